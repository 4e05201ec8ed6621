"""Does a change of the code's shape change what runs make? (issue 27: "bit-identical before and after")

Runs a fixed list of small configs (the default job, every source, the priors, geometry, stochastic DDIM, a coarser
generation grid, experiment=auto, the latent model, the emoji world on a made package) and records, for each, a
digest of what it wrote: every tensor of latents.safetensors, every sample PNG's bytes, and metrics.json less
timings, provenance and paths. Record once before a restructure, check after:

    python scripts/bit_identical.py --record scripts/bit_identical.json     # before
    python scripts/bit_identical.py --check scripts/bit_identical.json      # after: names each config that moved

A digest is of this machine's arithmetic (torch version, CPU): record and check on the same one.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["logger=none", "progress=false", "target.num_references=20", "target.num_eval=32", "sampler.count=8",
         "sampler.batch_size=8", "mixing.t_M=200", "mixing.steps=10", "mixing.reconstruct=4"]
CONFIGS = {  # name -> overrides on SMALL
    "default": [],
    "prior scalar": ["prior=scalar"],
    "prior pca": ["prior=pca", "prior.components=4"],
    "pca kernel": ["prior.kernel=pca", "prior.components=4", "prior.bandwidth=0.5"],
    "slerp": ["sampler=slerp"],
    "collage": ["sampler=collage"],
    "collage of three": ["sampler=collage", "sampler.collage_parts=3"],
    "hybrid": ["sampler=hybrid"],
    "replay": ["sampler=replay"],
    "id": ["sampler=id"],
    "sdedit": ["sampler=sdedit"],
    "paper": ["sampler=paper", "prior=scalar"],
    "reject": ["geometry=reject", "geometry.bandwidth=3", "target.num_references=20"],
    "optimize": ["geometry=optimize", "prior=scalar", "geometry.steps=5"],
    "eta 1": ["sampler.eta=1.0"],
    "generate_steps": ["mixing.generate_steps=5"],
    "match_noise": ["sampler.match_noise=true"],
    "auto": ["experiment=auto", "auto.count=4", "auto.t_M=[100,200]", "mixing.steps=null"],
    "tiny_ldm": ["model=tiny_ldm"],
    "emoji faces": ["target=emoji", "target.category=faces", "target.num_references=6", "target.num_eval=null",
                    "auto.count=4", "eval=unet"],
}
DROPPED = ("seconds", "provenance", "results", "path", "dir")  # keys whose values are timings, provenance or places
# the model's identity hashes where its folder lies (and the inversion cache's key holds it): a second checkout of
# the same code has another
PLACES = ("model_identity", "key")


def _clean(value):
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in sorted(value.items())
                if not any(d in k for d in DROPPED) and k not in PLACES}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def digest(folder: Path) -> dict:
    """What a run wrote, as hashes: each latent tensor, the samples' PNG bytes, the metrics less timings."""
    from safetensors.torch import load_file

    out = {}
    latents = folder / "latents.safetensors"
    if latents.is_file():
        for name, t in sorted(load_file(str(latents)).items()):
            out[f"latents/{name}"] = hashlib.sha256(t.contiguous().numpy().tobytes()).hexdigest()
    h = hashlib.sha256()
    for png in sorted((folder / "samples").glob("*.png")):
        h.update(png.read_bytes())
    out["samples"] = h.hexdigest()
    metrics = _clean(json.loads((folder / "metrics.json").read_text()))
    out["metrics"] = hashlib.sha256(json.dumps(metrics, sort_keys=True).encode()).hexdigest()
    return out


def run_all(names: list[str]) -> dict:
    sys.path.insert(0, str(ROOT))
    import unseen
    from tests.test_emoji import make_packages

    got = {}
    with tempfile.TemporaryDirectory() as tmp:
        packages = make_packages(Path(tmp) / "emoji")
        for name in names:
            extra = [f"target.path={packages}"] if name == "emoji faces" else []
            r = unseen.run(*SMALL, *CONFIGS[name], *extra, f"cache_dir={Path(tmp) / 'cache' / name}",
                           output_dir=Path(tmp) / "runs" / name.replace(" ", "_"))
            got[name] = digest(r.dir)
            print(f"{name}: {got[name]['samples'][:12]}", flush=True)
    return got


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--record", type=Path, help="write the digests to this file")
    mode.add_argument("--check", type=Path, help="compare with the digests in this file")
    p.add_argument("--only", nargs="+", choices=list(CONFIGS), default=list(CONFIGS))
    args = p.parse_args(argv)
    got = run_all(args.only)
    if args.record:
        args.record.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
        print(f"recorded {len(got)} configs in {args.record}")
        return 0
    want = json.loads(args.check.read_text())
    moved = [f"{name}: {part}" for name in got for part in got[name] if want.get(name, {}).get(part) != got[name][part]]
    print("bit-identical: " + ("yes, every config" if not moved else "NO\n  " + "\n  ".join(moved)))
    return 1 if moved else 0


if __name__ == "__main__":
    raise SystemExit(main())
