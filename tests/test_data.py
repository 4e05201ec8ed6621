"""Target folders as real datasets come: odd modes, EXIF rotation, extreme sizes, a separate evaluation folder."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from unseen.data import ImageFiles, load_image, load_target
from unseen.errors import UserError


def test_a_16_bit_grey_png_is_scaled_not_clipped_to_white(tmp_path):
    Image.fromarray(np.full((40, 40), 32768, np.uint16)).save(tmp_path / "grey16.png")
    assert Image.open(tmp_path / "grey16.png").mode == "I;16"
    img = load_image(tmp_path / "grey16.png", 32)
    assert img.shape == (3, 32, 32) and img.abs().max() < 0.01  # mid-grey is 0 in [-1, 1], white would be 1


def test_cmyk_palette_and_alpha_become_rgb(tmp_path):
    Image.new("CMYK", (40, 40), (0, 255, 255, 0)).save(tmp_path / "red.jpg")
    torch.testing.assert_close(load_image(tmp_path / "red.jpg", 32)[:, 16, 16], torch.tensor([1.0, -1.0, -1.0]),
                               atol=0.05, rtol=0)
    Image.new("RGB", (40, 40), (0, 0, 255)).convert("P").save(tmp_path / "blue.png")
    assert load_image(tmp_path / "blue.png", 32)[2].min() > 0.95
    Image.new("RGBA", (40, 40), (0, 0, 0, 0)).save(tmp_path / "clear.png")  # fully transparent: white
    assert load_image(tmp_path / "clear.png", 32).min() == 1.0


def test_exif_orientation_is_applied(tmp_path):
    arr = np.zeros((40, 60, 3), np.uint8)
    arr[:, :30] = 255  # left half white, stored landscape
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display": the displayed image is portrait, white on top
    Image.fromarray(arr).save(tmp_path / "rotated.jpg", exif=exif.tobytes(), quality=95)
    img = load_image(tmp_path / "rotated.jpg", 32)
    assert img[:, :8].mean() > 0.8 and img[:, -8:].mean() < -0.8


def test_a_very_wide_image_is_centre_cropped_and_a_tiny_one_named(tmp_path):
    arr = np.zeros((10, 5000, 3), np.uint8)
    arr[:, 2495:2505] = 255  # the centre square is white
    Image.fromarray(arr).save(tmp_path / "wide.png")
    assert load_image(tmp_path / "wide.png", 256).min() > 0.9
    Image.new("RGB", (4, 4)).save(tmp_path / "tiny.png")
    with pytest.raises(UserError, match="tiny.png is 4x4 px, too small"):
        load_image(tmp_path / "tiny.png", 32)


def test_eval_path_scores_against_another_folder_without_the_references(tmp_path):
    full = tmp_path / "full"
    refs = full / "few"  # the references are part of the big folder, as a subset of FFHQ would be
    refs.mkdir(parents=True)
    for i in range(6):
        Image.new("RGB", (32, 32), (i, 0, 0)).save(refs / f"{i}.png")
    for i in range(10):
        Image.new("RGB", (32, 32), (0, i, 0)).save(full / f"{i}.png")
    t = load_target("folder", 4, 32, path=str(refs), num_eval=12, eval_path=str(full))
    assert isinstance(t.eval_images, ImageFiles) and len(t.eval_images) == 12
    assert not set(t.ids) & set(t.eval_ids) and len(set(t.ids) | set(t.eval_ids)) == 16
    with pytest.raises(UserError, match="target.eval_path .*holds only 12 images"):
        load_target("folder", 4, 32, path=str(refs), num_eval=13, eval_path=str(full))


# --- the split by identity ----------------------------------------------------------------------------------------


def test_a_grouped_split_keeps_each_identity_on_one_side():
    from unseen.data import split_groups

    files = [f"{who}/{i}.png" for who in "abcdefghij" for i in range(2)]  # ten identities, two images each
    who = lambda fs: {f.split("/")[0] for f in fs}  # noqa: E731
    for k, num_eval in [(6, None), (7, None), (5, 6), (8, 4)]:
        refs, held, left = split_groups(files, lambda f: f.split("/")[0], k, num_eval, seed=3)
        assert len(refs) == k and len(held) == (num_eval if num_eval is not None else 20 - len(refs) - len(left))
        assert not who(refs) & who(held) and not who(left) & who(held)  # no twin across the split
        assert len(set(refs) | set(held) | set(left)) == len(refs) + len(held) + len(left)
        assert len(left) == (1 if k % 2 else 0) + (len(held) % 2 if num_eval is not None else 0)
    assert split_groups(files, lambda f: f.split("/")[0], 6, None, 3) == split_groups(files, lambda f: f.split("/")[0],
                                                                                         6, None, 3)  # seeded


def test_group_by_folder_or_a_file_name_pattern(tmp_path):
    from tests.helpers import random_images
    from unseen.data import folder_split, group_key

    for who in ("ann", "bob", "cy", "dee"):
        random_images(tmp_path / "people" / who, 3, start=len(who))
    refs, held = folder_split(str(tmp_path / "people"), 6, None, 0, group_by="folder")
    assert len(refs) == 6 and not {f.parent.name for f in refs} & {f.parent.name for f in held}
    key = group_key(r"^(\w+?)_")
    assert key(Path("x/ann_01.png")) == "ann" and key(Path("solo.png")) == "solo.png"
    with pytest.raises(UserError, match="neither 'folder' nor a regular expression"):
        group_key("(")
