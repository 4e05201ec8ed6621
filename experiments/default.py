"""The default job (`python run.py`, what `make demo` runs), with its results kept: the README's numbers about it
come from experiments/results/default/metrics.json.

    python -m experiments.default          # ~1 min on 2 CPU cores
    python -m experiments.default model=emoji_ddpm target=emoji target.category=faces \
        --out experiments/results/emoji_default/faces          # the emoji world's default command
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

if not __package__:  # run as a file (python experiments/default.py): the checkout's root on the path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from experiments.common import out_dir, parser


def main(argv=None) -> None:
    args = parser(__doc__).parse_args(argv)
    import unseen

    folder = out_dir("default", args)
    with tempfile.TemporaryDirectory() as tmp:
        # a fresh cache: the costs are a first run's, inversion included, whatever ran here before
        r = unseen.run("logger=none", "progress=false", f"cache_dir={Path(tmp) / 'cache'}", *args.overrides,
                       output_dir=Path(tmp) / "run")
        for name in ("metrics.json", "config.yaml", "grid.png", "nearest.png"):
            shutil.copy(r.dir / name, folder / name)
    print(f"wrote {folder}")


if __name__ == "__main__":
    main()
