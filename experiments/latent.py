"""The method in a latent space (issue 15): `model=tiny_ldm` (an autoencoder and a latent UNet trained on disks
only) beside the pixel model `tiny_ddpm` (disks only too), on the default job and one more target.

    python -m experiments.latent                 # 256 samples a row; ~15 min on 2 CPU cores

Every row is the default command with `model=` and `target=` changed: K = 64, t_M 300, the mixture prior. Beside
the goals' columns: the reconstruction PSNR of encode -> invert -> denoise -> decode and the autoencoder's own
round trip (its floor), the images through the encoder and decoder, and the wall time.
"""

from __future__ import annotations

import sys
from pathlib import Path

if not __package__:  # run as a file (python experiments/latent.py): the checkout's root on the path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from experiments.common import markdown, parser, publish, read_rows, run_study

MODELS = ["tiny_ddpm", "tiny_ldm"]
TARGETS = ["smileys", "crosses"]


def _extra(label: dict, metrics: dict) -> dict:
    from unseen.evaluation.metrics import get

    return {"reconstruction_psnr": get(metrics, "reconstruction_psnr"),
            "autoencoder_psnr": get(metrics, "autoencoder_psnr"),
            "decoder_evaluations": get(metrics, "decoder_evaluations"),
            "seconds": get(metrics, "seconds")}


def main(argv=None) -> None:
    p = parser(__doc__, report=True)
    p.set_defaults(count=256)
    args = p.parse_args(argv)
    if args.report:
        results = read_rows("latent", args)
    else:
        rows = [({"target": t, "model": m}, [f"model={m}", f"target={t}"]) for t in TARGETS for m in MODELS]
        results = run_study("latent", rows, args, on_metrics=_extra)
    cols = ["target", "model", "target_rate", "rate_low", "rate_high", "memorised_pixel", "memorised_feature",
            "diversity_pixel", "diversity_feature", "precision", "grain", "grain_low", "grain_high", "fid",
            "reconstruction_psnr", "autoencoder_psnr", "unet_evaluations", "decoder_evaluations", "seconds",
            "error"]
    publish("latent", args, results,
            f"{args.count} samples per row, K = 64, t_M 300, the default command with model= and target= changed. "
            f"rate_low / rate_high: Wilson 95%; grain_low / grain_high: bootstrap 95%; fid in the tiny world's "
            f"classifier space; reconstruction_psnr: encode -> invert -> denoise -> decode (pixels for tiny_ddpm); "
            f"autoencoder_psnr: encode -> decode alone, the latent model's floor.\n\n" + markdown(results, cols))


if __name__ == "__main__":
    main()
