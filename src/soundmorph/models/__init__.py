"""Models: the posterior and the spectrogram VAEs (:mod:`.vae`: the reference ``paper`` CNN-VAE and
the linear PPCA-style variant), and the registries a config chooses from by name."""

from soundmorph.models.vae import (
    DECODERS,
    ENCODERS,
    INPUT_SCALES,
    Posterior,
    SpectrogramVAE,
    count_parameters,
    posterior_size,
)

__all__ = [
    "DECODERS",
    "ENCODERS",
    "INPUT_SCALES",
    "Posterior",
    "SpectrogramVAE",
    "count_parameters",
    "posterior_size",
]
