"""The Gaussian prior over inverted latents: ``fit_prior`` and ``draw`` (docs/design.md section 1).

Latents are flattened to Z (K x D). Variance kinds:

* ``scalar``   -- the paper's code: the variance of all K*D entries around their grand mean;
* ``residual`` -- the mean over dimensions of the per-dimension unbiased variance;
* ``diagonal`` -- the per-dimension unbiased variance, floored (needs K well above 1);
* ``pca``      -- beyond the paper: the top-k principal directions of Z with their spreads plus
  an isotropic residual for the rest, so draws keep the references' coherent variations
  (colour, size) instead of adding independent per-pixel noise;
* ``mixture``  -- beyond the paper: an equal-weight mixture of K isotropic Gaussians, one at each
  reference's latent, with std ``bandwidth`` x the residual std, each draw put back on its
  component's sphere (|z| = |z_j|, where the model's latents live). Draws stay on the
  references' manifold instead of at their mean, which carries no shape for varied domains.

Any kind may add ``symmetries`` (unseen.method.symmetry): each draw is moved, mirrored or recoloured
by a random orthogonal transform the user declares the domain to have.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

VARIANCES = ("scalar", "residual", "diagonal", "pca", "mixture")
KERNELS = ("isotropic", "pca")  # a mixture component's shape


@dataclass
class GaussianPrior:
    """N(mean, cov) over flattened latents; cov = diag(std**2) + basis.T diag(basis_std**2) basis."""

    kind: str
    mean: torch.Tensor  # (D,)
    std: torch.Tensor  # () or (D,): isotropic / diagonal part (the residual for pca)
    basis: torch.Tensor | None = None  # (k, D) orthonormal rows, pca only
    basis_std: torch.Tensor | None = None  # (k,), pca only
    low: torch.Tensor | None = None  # (D,) per-dimension span of the references, when truncating
    high: torch.Tensor | None = None
    centres: torch.Tensor | None = None  # (K, D) the components' means, mixture only
    shape: tuple[int, ...] | None = None  # one latent's shape (C, H, W), for symmetries
    symmetries: tuple[str, ...] = ()
    max_shift: float = 0.15

    @property
    def dim(self) -> int:
        return self.mean.numel()

    def stats(self) -> dict[str, float]:
        """A few numbers that describe the fit, for metrics.json."""
        out = {"kind": self.kind, "dim": self.dim, "mean_norm": float(self.mean.norm()),
               "std_mean": float(self.std.mean()), "truncated": self.low is not None,
               "symmetries": list(self.symmetries)}
        if self.centres is not None:
            out["components"] = len(self.centres)
            out["signal_scale"] = signal_scale(self)
        if self.basis_std is not None:
            total = float(self.basis_std.pow(2).sum() + self.std.pow(2) * self.dim)
            out.update(components=len(self.basis_std),
                       explained_variance=float(self.basis_std.pow(2).sum()) / total)
        return out


def _check_fit(latents: torch.Tensor, variance: str, symmetries, kernel: str) -> None:
    check_choices(variance, kernel, symmetries)
    if "hue" in symmetries and (latents.dim() != 4 or latents.shape[1] != 3):
        raise ValueError(f"the hue symmetry needs RGB latents (K, 3, H, W), got shape {tuple(latents.shape)}: "
                         f"remove it from prior.symmetries")


def check_choices(variance: str, kernel: str, symmetries) -> None:
    """The one home of the prior's named choices (a UserError is a ValueError: the library's callers catch it)."""
    from unseen.errors import UserError
    from unseen.method.symmetry import SYMMETRIES

    if variance not in VARIANCES:
        raise UserError(f"prior.variance must be one of {', '.join(VARIANCES)}, got {variance!r}")
    if kernel not in KERNELS:
        raise UserError(f"prior.kernel must be one of {', '.join(KERNELS)}, got {kernel!r}")
    if any(name not in SYMMETRIES for name in symmetries):
        raise UserError(f"prior.symmetries must be a subset of {list(SYMMETRIES)}, got {list(symmetries)}")


def along_principal(variance: str, kernel: str) -> bool:
    """Does the prior spread along the references' principal directions (``pca``, or the mixture's pca kernel)?"""
    return variance == "pca" or (variance == "mixture" and kernel == "pca")


def check_references(k: int, variance: str, kernel: str, components: int) -> None:
    """The one home of how many references a prior needs: one more than its principal directions, else 2."""
    from unseen.errors import UserError

    need = components + 1 if along_principal(variance, kernel) else 2
    if k < need:
        fix = f"add references or lower prior.components (now {components})" if need > 2 else "add references"
        raise UserError(f"the {variance!r} prior{' with the pca kernel' if variance == 'mixture' and need > 2 else ''}"
                        f" needs at least {need} references, got target.num_references = {k}: {fix}")


def _principal(centred: torch.Tensor, components: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The first ``components`` principal directions (rows) of K centred latents, the spread along each, and
    every singular value."""
    # The thin SVD of the K x D matrix: K is small, D may be 200k, so never form D x D.
    _, s, vh = torch.linalg.svd(centred, full_matrices=False)
    return vh[:components], s[:components] / (len(centred) - 1) ** 0.5, s


def check(p) -> None:
    """The ``prior`` group's values."""
    from unseen.errors import UserError, check_float

    check_choices(p.variance, p.kernel, p.symmetries)
    if (p.variance == "pca" or p.kernel == "pca") and p.components < 1:
        raise UserError(f"prior.components must be >= 1, got {p.components}")
    check_float(p.bandwidth, "prior.bandwidth", 0, None, "each component's std in units of the references' spread")
    check_float(p.max_shift, "prior.max_shift", 0, 0.5)
    check_float(p.floor, "prior.floor", 0, None)


def fit_prior(latents: torch.Tensor, variance: str = "scalar", components: int = 16, floor: float = 1e-4,
              truncate: bool = False, bandwidth: float = 1.0, symmetries: tuple[str, ...] | list[str] = (),
              max_shift: float = 0.15, kernel: str = "isotropic") -> GaussianPrior:
    """Fit a Gaussian (or, ``mixture``, a mixture at the references) to K latents (K, ...) by the chosen kind.
    ``kernel`` (mixture only): each component's spread, ``isotropic`` (bandwidth x the residual std in every
    dimension) or ``pca`` (bandwidth x the references' spread along their first ``components`` principal
    directions, and none elsewhere)."""
    _check_fit(latents, variance, symmetries, kernel)
    z = latents.reshape(latents.shape[0], -1).to(torch.float64)
    k = z.shape[0]
    check_references(k, variance, kernel, components)
    mean = z.mean(0)
    basis = basis_std = centres = None
    if variance == "mixture" and kernel == "pca":
        # The spread of the references along their principal directions, none in the other D - k: a draw moves
        # its reference the way references differ from each other, never by per-pixel noise, which a latent at
        # t_M already holds as much of as the model expects (added noise is left in the samples as grain).
        centres = z
        basis, basis_std, _ = _principal(z - mean, components)
        basis_std = bandwidth * basis_std
        std = torch.zeros((), dtype=torch.float64)
    elif variance == "mixture":
        centres = z  # not a copy: at 256 px, K = 1000 latents in float64 are 1.6 GB
        std = bandwidth * z.var(0).mean().sqrt()
    elif variance == "scalar":
        std = z.var(unbiased=False).sqrt()  # around the grand mean, as the paper's code does
    elif variance == "residual":
        std = z.var(0).mean().sqrt()
    elif variance == "diagonal":
        std = z.var(0).clamp_min(floor).sqrt()
    else:
        basis, basis_std, s = _principal(z - mean, components)
        rest = s[components:].pow(2).sum() / (k - 1)
        std = (rest / max(1, z.shape[1] - components)).clamp_min(floor).sqrt()
    low, high = (z.min(0).values, z.max(0).values) if truncate else (None, None)
    return GaussianPrior(variance, mean, std, basis, basis_std, low, high, centres, tuple(latents.shape[1:]),
                         tuple(symmetries), max_shift)


def signal_scale(prior: GaussianPrior) -> float:
    """How much of a centre's signal a mixture draw keeps, on average over the centres: a draw is put back on its
    centre's sphere, so with m = |c|^2 / D it is sqrt(m / (m + std^2)) (c + std n): the reference's latent scaled
    down, with isotropic noise filling the rest of its norm. A latent at t_M with alpha_bar(t_M) scaled so is one
    at the later t where alpha_bar(t) = scale * alpha_bar(t_M) (``ddim.matched_start``); denoised from t_M instead,
    the excess noise is left in the sample as grain. 1 for priors without centres, and for the pca kernel, whose
    moves are along the references' own directions, not noise."""
    if prior.centres is None:
        return 1.0
    m = prior.centres.pow(2).mean(1)
    return float((m / (m + prior.std.pow(2))).mean())


def draw(prior: GaussianPrior, n: int, generator: torch.Generator) -> torch.Tensor:
    """n flattened draws (n, D), float64; clamped to the references' span when the prior truncates."""
    if prior.centres is not None:
        centre = prior.centres[torch.randint(len(prior.centres), (n,), generator=generator)]
        z = centre + prior.std * torch.randn(n, prior.dim, generator=generator, dtype=torch.float64)
        if prior.basis is not None:  # the pca kernel
            coeff = torch.randn(n, len(prior.basis_std), generator=generator, dtype=torch.float64)
            z = z + (coeff * prior.basis_std) @ prior.basis
        z = z * (centre.norm(dim=1, keepdim=True) / z.norm(dim=1, keepdim=True).clamp_min(1e-300))
    else:
        z = prior.mean + prior.std * torch.randn(n, prior.dim, generator=generator, dtype=torch.float64)
        if prior.basis is not None:
            coeff = torch.randn(n, len(prior.basis_std), generator=generator, dtype=torch.float64)
            z = z + (coeff * prior.basis_std) @ prior.basis
    if prior.low is not None:
        z = torch.maximum(torch.minimum(z, prior.high), prior.low)
    if prior.symmetries:
        from unseen.method.symmetry import apply_symmetries

        z = apply_symmetries(z.reshape(n, *prior.shape), prior.symmetries, generator, prior.max_shift).reshape(n, -1)
    return z

