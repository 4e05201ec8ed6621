"""Does a change of the code's shape change what runs make? (issue 27: "bit-identical before and after")

Runs a fixed list of small configs (the default job, every source, the priors, geometry, stochastic DDIM, a coarser
generation grid, experiment=auto, the latent model, the emoji world on a made package) and records, for each, a
digest of what it wrote: every tensor of latents.safetensors, every sample PNG's bytes, and every value of
metrics.json less timings, provenance and places (floats to 1e-9 relative: see ``_same``). Record once before a restructure, check after:

    python scripts/bit_identical.py --record scripts/bit_identical.json     # before
    python scripts/bit_identical.py --check scripts/bit_identical.json      # after: names each config that moved

A digest is of this machine's arithmetic (torch version, CPU): record and check on the same one.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
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
# the same of the inversion cache's size: it counted the key's lock file (this host's name and the process id) until
# the lock was left out of it (the baseline was recorded before)
PLACES = ("model_identity", "key", "bytes")


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
    out["metrics"] = dict(_leaves(metrics))
    return out


def _leaves(value, prefix: str = ""):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, f"{prefix}{k}.")
    elif isinstance(value, list) and len(value) <= 64:
        for i, v in enumerate(value):
            yield from _leaves(v, f"{prefix}{i}.")
    elif isinstance(value, list):  # long lists (per-cluster values): one hash
        yield prefix.rstrip("."), hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()
    else:
        yield prefix.rstrip("."), value


def _same(a, b) -> bool:
    """Equal, floats to 1e-9 relative: the scores' large reductions (FID's covariances through BLAS) may change
    their last bits with the threads a loaded machine gives them, where latents and samples do not."""
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def moved(want: dict, got: dict) -> list[str]:
    """Each config, and what of it, that differs from the recorded digests."""
    out = []
    for name, g in got.items():
        w = want.get(name, {})
        parts = [p for p in g if p != "metrics" and w.get(p) != g[p]]
        old, new = w.get("metrics", {}), g["metrics"]
        fields = sorted(k for k in set(old) | set(new)
                        if k.rsplit(".", 1)[-1] not in PLACES and not _same(old.get(k), new.get(k)))
        out += [f"{name}: {p}" for p in parts]
        if fields:
            out.append(f"{name}: metrics ({', '.join(fields[:6])}{', ...' if len(fields) > 6 else ''})")
    return out


def run_all(names: list[str]) -> dict:
    sys.path.insert(0, str(ROOT))
    import unseen
    from tests.helpers import make_packages

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
    changed = moved(want, got)
    print("bit-identical: " + ("yes, every config" if not changed else "NO\n  " + "\n  ".join(changed)))
    return 1 if changed else 0


if __name__ == "__main__":
    raise SystemExit(main())
