"""Where a result came from: package and library versions, the git commit of a checkout, the device, and the
identity of the model (a hash of its weights) and where it was loaded from; written into every metrics.json."""

from __future__ import annotations

import platform
import subprocess
from pathlib import Path

import torch


def git_commit(where: Path) -> dict | None:
    """The commit (and whether the tree had changes) when the package runs from a git checkout."""
    try:
        commit = subprocess.run(["git", "-C", str(where), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=5)
        if commit.returncode:
            return None
        dirty = subprocess.run(["git", "-C", str(where), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip() != ""
        return {"commit": commit.stdout.strip(), "dirty": dirty}
    except (OSError, subprocess.SubprocessError):
        return None


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return platform.processor() or platform.machine() or "cpu"


def provenance(device: torch.device, model_identity: str, model_location: str) -> dict:
    import diffusers

    from unseen._version import __version__

    return {"unseen": __version__, "git": git_commit(Path(__file__).resolve().parents[1]),
            "torch": torch.__version__, "diffusers": diffusers.__version__, "python": platform.python_version(),
            "device": str(device), "device_name": device_name(device),
            "model_location": model_location, "model_identity": model_identity}
