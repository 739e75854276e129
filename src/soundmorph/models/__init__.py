"""Models: the posterior and the spectrogram VAEs (:mod:`.vae`: the reference ``paper`` CNN-VAE and
the linear PPCA-style variant; :mod:`.sequence`: a latent that keeps time), and the registries a
config chooses from by name."""

from soundmorph.config import LatentKind, ModelConfig, check_registry
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

# ModelConfig.latent -> the model family; the class name is what config.json records. A family is
# a subclass of SpectrogramVAE that overrides what differs (latent_size, sample_latents,
# loss_terms, encode/decode, init_from_data, augment): one module plus one entry here and its name
# in config.LatentKind.
MODELS: dict[str, type[SpectrogramVAE]] = {"global": SpectrogramVAE, "sequence": SequenceVAE}
check_registry(MODELS, LatentKind, "model family")


def build_model(config: ModelConfig, *, n_freq: int, n_frames: int) -> SpectrogramVAE:
    """A freshly initialised model of ``config``'s family for clips of [n_freq, n_frames]."""
    return MODELS[config.latent](config, n_freq=n_freq, n_frames=n_frames)


def latent_size(config: ModelConfig, n_frames: int) -> int:
    """Length of one clip's latent vector in ``config``'s family for clips of ``n_frames`` frames."""
    return MODELS[config.latent].size_of(config, n_frames)


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
