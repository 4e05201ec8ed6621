"""One job over several processes: ``torchrun --standalone --nproc_per_node N run.py <overrides>``.

torch.distributed only (gloo on CPUs, NCCL on GPUs); torchrun starts and watches the processes. The rule
that keeps the union of the shards bit-identical to a single process (docs/design.md section 4): the
UNet's output depends on the batch SIZE it is called with, so work is divided in WHOLE micro-batches,
the very ones a single process would run. References: the micro-batches of ``model.batch_size`` are
split into contiguous runs, one per rank; samples: the chunks of ``sampler.batch_size`` likewise.
Everything random (prior fit, draws, selection) is computed identically on every rank from the same seed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import torch


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1

    def barrier(self) -> None:
        if self.active:
            torch.distributed.barrier()

    def broadcast(self, obj=None):
        """Rank 0's ``obj`` on every rank."""
        if not self.active:
            return obj
        box = [obj if self.main else None]
        torch.distributed.broadcast_object_list(box, src=0)
        return box[0]

    def all_gather(self, obj) -> list:
        """Every rank's ``obj``, in rank order, on every rank."""
        if not self.active:
            return [obj]
        out = [None] * self.world
        torch.distributed.all_gather_object(out, obj)
        return out

    def gather(self, obj) -> list | None:
        """Every rank's ``obj`` in rank order on rank 0 (None elsewhere)."""
        if not self.active:
            return [obj]
        out = [None] * self.world if self.main else None
        torch.distributed.gather_object(obj, out, dst=0)
        return out

    def my_chunks(self, n: int, chunk: int) -> slice:
        """This rank's contiguous run of whole chunks of ``chunk`` items out of ``n``, as a slice of items."""
        chunks = -(-n // chunk)
        per, extra = divmod(chunks, self.world)
        first = self.rank * per + min(self.rank, extra)
        count = per + (self.rank < extra)
        return slice(min(n, first * chunk), min(n, (first + count) * chunk))


SINGLE = Dist()


def setup() -> Dist:
    """Join the process group torchrun describes (WORLD_SIZE > 1), or a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return SINGLE
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not torch.distributed.is_initialized():
        cuda = torch.cuda.is_available()
        if cuda:
            torch.cuda.set_device(local)
        # Long: rank 0 may wait on another job's inversion lock while the others wait on it.
        minutes = float(os.environ.get("UNSEEN_DIST_TIMEOUT_MIN", "180"))
        torch.distributed.init_process_group("nccl" if cuda else "gloo", timeout=timedelta(minutes=minutes))
    return Dist(rank, world)


def local_device(name: str) -> str:
    """``auto`` / ``cuda`` mean this rank's own GPU under torchrun."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and name in ("auto", "cuda") and torch.cuda.is_available():
        return f"cuda:{os.environ.get('LOCAL_RANK', '0')}"
    return name


def teardown() -> None:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
