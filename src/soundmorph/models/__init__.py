"""Models: the posterior and the spectrogram VAEs (:mod:`.vae`: the reference ``paper`` CNN-VAE and
the linear PPCA-style variant)."""

from soundmorph.models.vae import Posterior, SpectrogramVAE, count_parameters, posterior_size

__all__ = ["Posterior", "SpectrogramVAE", "count_parameters", "posterior_size"]
