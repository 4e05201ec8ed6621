"""The method of the paper, as pure functions on tensors and typed specs: DDIM inversion and generation (ddim),
the Gaussian prior (prior) and the domain's symmetries (symmetry), the geometric selection (geometry), and the
latent sources that join them (sources)."""
