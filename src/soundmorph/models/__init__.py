"""Models: the posterior and the spectrogram VAEs (:mod:`.vae`: the reference ``paper`` CNN-VAE and
the linear PPCA-style variant; :mod:`.sequence`: a latent that keeps time), and the registries a
config chooses from by name."""

from soundmorph.config import ModelConfig
from soundmorph.models import sequence
from soundmorph.models.sequence import DiagonalPosterior, SequenceVAE
from soundmorph.models.vae import (
    DECODERS,
    ENCODERS,
    INPUT_SCALES,
    Posterior,
    SpectrogramVAE,
    count_parameters,
    posterior_size,
)

# ModelConfig.latent -> the model class; the class name is what config.json records.
MODELS: dict[str, type[SpectrogramVAE]] = {"global": SpectrogramVAE, "sequence": SequenceVAE}


def build_model(config: ModelConfig, *, n_freq: int, n_frames: int) -> SpectrogramVAE:
    """A freshly initialised model of ``config``'s family for clips of [n_freq, n_frames]."""
    return MODELS[config.latent](config, n_freq=n_freq, n_frames=n_frames)


def latent_size(config: ModelConfig, n_frames: int) -> int:
    """Length of one clip's latent vector: ``latent_dim``, or the flat sequence latent's."""
    if config.latent == "sequence":
        return sequence.latent_size(config, n_frames)
    return config.latent_dim


__all__ = [
    "DECODERS",
    "ENCODERS",
    "INPUT_SCALES",
    "MODELS",
    "DiagonalPosterior",
    "Posterior",
    "SequenceVAE",
    "SpectrogramVAE",
    "build_model",
    "count_parameters",
    "latent_size",
    "posterior_size",
]
