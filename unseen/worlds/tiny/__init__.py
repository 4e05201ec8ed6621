"""The built-in tiny world: procedural 32 px domains, a small DDPM and a domain classifier."""

from unseen.worlds.tiny.domains import ALIGNED, DOMAINS, UNALIGNED, DomainDataset, render, sample

__all__ = ["ALIGNED", "DOMAINS", "UNALIGNED", "DomainDataset", "render", "sample"]
