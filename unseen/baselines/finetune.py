"""A baseline the method is measured against: fine-tune the model on the K references, then sample it.

    python -m unseen.baselines.finetune --model builtin:tiny_ddpm --target squares --steps 400 --out runs/ft-squares
    python run.py model.pretrained=runs/ft-squares sampler=id target=squares     # scored like every other row
    python -m unseen.baselines.finetune --model builtin:emoji_ddpm --references 10 --out runs/ft-faces target=emoji \
        target.category=faces                                                 # any target, by overrides

The paper's script computes the loss and never steps the optimizer; this loop does: the DDPM loss
|eps - eps_theta(sqrt(ab_t) x0 + sqrt(1 - ab_t) eps, t)|^2 with t uniform, AdamW, a fixed budget of
``steps`` optimizer steps on batches of the K references (random horizontal flips off: they would be
domain knowledge the method is not given), and the fine-tuned weights saved as a diffusers folder.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import torch

log = logging.getLogger("unseen.baselines.finetune")


def finetune(unet, alphas_cumprod: torch.Tensor, refs: torch.Tensor, steps: int, batch_size: int = 32,
             lr: float = 1e-4, seed: int = 0) -> list[float]:
    """Train ``unet`` (in place) on ``refs`` for ``steps`` optimizer steps; returns the losses."""
    g = torch.Generator().manual_seed(seed)
    unet.train().requires_grad_(True)
    opt = torch.optim.AdamW(unet.parameters(), lr=lr, weight_decay=0.0)
    ab = alphas_cumprod.float()
    losses = []
    for _ in range(steps):
        x0 = refs[torch.randint(len(refs), (min(batch_size, len(refs)),), generator=g)]
        t = torch.randint(len(ab), (len(x0),), generator=g)
        noise = torch.randn(x0.shape, generator=g)
        a = ab[t].view(-1, 1, 1, 1)
        xt = a.sqrt() * x0 + (1 - a).sqrt() * noise
        loss = torch.nn.functional.mse_loss(unet(xt, t).sample[:, : x0.shape[1]], noise)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    unet.eval().requires_grad_(False)
    return losses


def main(argv: list[str] | None = None) -> None:
    from diffusers import DDPMScheduler

    from unseen.errors import UserError
    from unseen.job.api import prepare
    from unseen.models.loading import resolve_pretrained

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="builtin:tiny_ddpm")
    p.add_argument("--target", default="squares", help="a tiny-world domain, or a folder of images")
    p.add_argument("--references", type=int, default=64)
    p.add_argument("--steps", type=int, default=400, help="optimizer steps: the fixed budget")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True)
    p.add_argument("overrides", nargs="*", help="config overrides for the references, e.g. target=emoji "
                                               "target.category=faces (a target= here replaces --target)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    folder = Path(args.target)
    # The same K references a run of target=<domain> or target=folder would invert: the run's own stages load them.
    chosen = ["target=folder", f"target.path={folder}"] if folder.is_dir() else [f"target={args.target}"]
    if any(o.startswith("target=") for o in args.overrides):
        chosen = []
    job = prepare(f"model.pretrained={args.model}", *chosen, f"target.num_references={args.references}",
                  "eval=none", *args.overrides)
    model, target = job.loaded.model, job.target
    if model.kind != "pixel":
        raise UserError(f"the fine-tuning baseline trains a pixel-space UNet; {args.model} is a {model.kind} model")
    start = time.perf_counter()
    losses = finetune(model.unet, model.alphas_cumprod, target.images, args.steps, args.batch_size, args.lr,
                      args.seed)
    seconds = time.perf_counter() - start
    out = Path(args.out)
    model.unet.save_pretrained(out / "unet")
    where, _ = resolve_pretrained(args.model)
    DDPMScheduler.from_pretrained(where, subfolder="scheduler").save_pretrained(out / "scheduler")
    stats = {"base": args.model, "target": target.name, "overrides": args.overrides,
             "references": len(target.images), "steps": args.steps,
             "batch_size": args.batch_size, "lr": args.lr, "seconds": round(seconds, 1),
             "unet_evaluation_equivalents": args.steps * min(args.batch_size, len(target.images)) * 3,  # fwd + bwd ~ 3 fwd
             "loss_first_50": sum(losses[:50]) / len(losses[:50]), "loss_last_50": sum(losses[-50:]) / len(losses[-50:])}
    (out / "finetune.json").write_text(json.dumps(stats, indent=2) + "\n")
    log.info("fine-tuned %s on %d %s references: %d steps in %.0fs, loss %.4f -> %.4f; saved to %s", args.model,
             len(target.images), target.name, args.steps, seconds, stats["loss_first_50"], stats["loss_last_50"], out)


if __name__ == "__main__":
    main()
