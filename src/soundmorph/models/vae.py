"""The CNN-VAE on STFT magnitudes: encoder, Gaussian posterior, decoder.

Only ``torch.nn`` here: no files, no printing. The reference (preset ``paper``) is a stack of
2-D convolutions whose kernels span either the whole frequency axis or exactly their own stride
along time. Such convolutions are matrix products over reshaped tensors, so every layer below is a
``Linear`` on a reshaped tensor: the same function and the same parameter count as the reference's
``Conv2D``/``Conv2DTranspose`` layers, computed as a few large matmuls instead of convolutions.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from soundmorph import latent
from soundmorph.audio.spectral import inverse_log_scale, log_scale
from soundmorph.config import (
    DecoderName,
    EncoderName,
    InputScaleName,
    ModelConfig,
    check_registry,
    time_strides,
)
from soundmorph.pca import principal_axes

SCALE_FLOOR = (
    1e-5  # added to the posterior scale's softplus'd diagonal: keeps it positive (TFP's FillScaleTriL)
)
INITIAL_SCALE = 0.1  # posterior standard deviation at the start of a learned scale, in units of the prior's


Noise = Callable[[tuple[int, ...]], torch.Tensor]  # shape -> N(0, 1) draws [batch, *shape], per clip


class Posterior:
    """A Gaussian ``q(z | x) = N(mean, L L^T)`` with a lower-triangular ``L`` of positive diagonal.

    Parameters
    ----------
    mean : torch.Tensor [shape=(batch, latent)]
    scale_tril : torch.Tensor [shape=(batch, latent, latent)]
    """

    def __init__(self, mean: torch.Tensor, scale_tril: torch.Tensor) -> None:
        self.mean = mean
        self.scale_tril = scale_tril

    def mode(self) -> torch.Tensor:
        """The most likely latent [batch, latent] (the mean): deterministic encodings."""
        return self.mean

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """``mean + L eps`` with ``eps ~ N(0, I)`` [batch, latent], differentiable (reparameterised)."""
        eps = torch.randn(self.mean.shape, generator=generator, device=self.mean.device)
        return self.mean + (self.scale_tril @ eps.unsqueeze(-1)).squeeze(-1)

    def kl(self) -> torch.Tensor:
        """``KL(q || N(0, I))`` per item [batch], in nats, in closed form.

        ``0.5 * (tr(L L^T) + mean^T mean - k - log det(L L^T))``.
        """
        k = self.mean.shape[-1]
        trace = self.scale_tril.pow(2).sum(dim=(-2, -1))
        log_det = 2.0 * torch.diagonal(self.scale_tril, dim1=-2, dim2=-1).log().sum(-1)
        return 0.5 * (trace + self.mean.pow(2).sum(-1) - k - log_det)


def posterior_size(latent_dim: int, covariance: str) -> int:
    """Outputs of the encoder head: mean plus the free entries of the scale (152 for 16, full)."""
    scale = latent_dim * (latent_dim + 1) // 2 if covariance == "full" else latent_dim
    return latent_dim + scale


class Encoder(nn.Module):
    """Magnitude [batch, freq, frames] -> :class:`Posterior` over the latent.

    Frequency is collapsed first (one ``channels``-vector per frame), then time in two strided
    steps ``(first, last)`` from :func:`soundmorph.config.time_strides`; frames are zero-padded up
    to ``first * last`` (148 frames: ``(37, 4)``, no padding), then a dense head.
    """

    _tril: torch.Tensor

    def __init__(self, config: ModelConfig, *, n_freq: int, n_frames: int) -> None:
        super().__init__()
        c = config.channels
        self.config = config
        self.n_frames = n_frames
        self.strides = time_strides(n_frames, config.last_stride)
        self.freq = nn.Linear(n_freq, c)  # Conv2D(c, kernel=(n_freq, 1))
        self.time1 = nn.Linear(self.strides[0] * c, c)  # Conv2D(c, kernel=(1, s1), stride=(1, s1))
        self.time2 = nn.Linear(self.strides[1] * c, c)  # Conv2D(c, kernel=(1, s2), stride=(1, s2))
        self.head = nn.Linear(c, posterior_size(config.latent_dim, config.covariance))
        self.dropout = nn.Dropout(config.dropout)
        k = config.latent_dim
        self.register_buffer("_tril", torch.tril_indices(k, k), persistent=False)

    def forward(self, x: torch.Tensor) -> Posterior:
        """Encode ``x`` [batch, freq, frames] (already scaled by :meth:`SpectrogramVAE.to_input`)."""
        s1, s2 = self.strides
        h = F.pad(x, (0, s1 * s2 - x.shape[-1])).transpose(1, 2)  # [b, frames, freq]
        h = self.dropout(F.relu(self.freq(h)))  # [b, s1*s2, c]
        h = self.dropout(F.relu(self.time1(h.reshape(h.shape[0], s2, -1))))  # [b, s2, c]
        h = self.dropout(F.relu(self.time2(h.reshape(h.shape[0], -1))))  # [b, c]
        return self._posterior(self.head(h))

    def _posterior(self, params: torch.Tensor) -> Posterior:
        return posterior_from_params(params, self.config, self._tril)


def posterior_from_params(params: torch.Tensor, config: ModelConfig, tril_indices: torch.Tensor) -> Posterior:
    """The :class:`Posterior` of encoder outputs [batch, posterior_size]: mean, then scale entries."""
    k = config.latent_dim
    mean, raw = params[:, :k], params[:, k:]
    if config.covariance == "full":
        # TFP's FillScaleTriL: free lower triangle, softplus(diagonal) + SCALE_FLOOR keeps it positive.
        tril = params.new_zeros(params.shape[0], k, k)
        tril[:, tril_indices[0], tril_indices[1]] = raw
        diag = F.softplus(torch.diagonal(tril, dim1=-2, dim2=-1)) + SCALE_FLOOR
        tril = torch.tril(tril, diagonal=-1) + torch.diag_embed(diag)
    else:
        tril = torch.diag_embed(F.softplus(raw) + SCALE_FLOOR)
    return Posterior(mean, tril)


class LinearEncoder(nn.Module):
    """Magnitude [batch, freq, frames] (network scale) -> :class:`Posterior`, probabilistic-PCA style:
    the mean is one affine map of the whole spectrogram, the scale is learned but the same for every
    input (as PPCA's posterior covariance is). :meth:`init_pca` starts the mean at the whitened PCA
    projection of the training set and the scale small, so training refines PCA instead of learning
    it from noise. Its size equals the linear decoder's (``latent x freq x frames``)."""

    _tril: torch.Tensor

    def __init__(self, config: ModelConfig, *, n_freq: int, n_frames: int) -> None:
        super().__init__()
        self.config = config
        k = config.latent_dim
        self.map = nn.Linear(n_freq * n_frames, k)
        raw = math.log(math.expm1(INITIAL_SCALE))  # softplus^-1: the diagonal starts at the scale
        self.register_buffer("_tril", torch.tril_indices(k, k), persistent=False)
        if config.covariance == "full":
            scale = torch.where(self._tril[0] == self._tril[1], raw, 0.0)
        else:
            scale = torch.full((k,), raw)
        self.scale = nn.Parameter(scale)

    def forward(self, x: torch.Tensor) -> Posterior:
        mean = self.map(x.flatten(1))
        params = torch.cat([mean, self.scale.expand(len(mean), -1)], dim=1)
        return posterior_from_params(params, self.config, self._tril)

    @torch.no_grad()
    def init_pca(self, targets: torch.Tensor) -> None:
        """Mean = the first ``latent_dim`` principal coordinates of ``targets`` [clips, freq, frames]
        divided by their standard deviations (so they match the prior N(0, I)). Directions without
        variance (more latents than clips) get zero weight: they would divide by zero."""
        axes, std, mean = principal_axes(targets.flatten(1), self.map.weight.shape[0])
        weight = torch.zeros_like(self.map.weight, dtype=torch.float64)
        weight[: len(std)] = axes / std[:, None]
        self.map.weight.copy_(weight)
        self.map.bias.copy_(-(weight @ mean))


class Decoder(nn.Module):
    """Latent [batch, latent] -> network output [batch, freq, frames], the encoder's mirror.

    Dense to ``channels``, then two transposed strided steps along time (each with one bias per
    channel, as a ``Conv2DTranspose``), then one ``channels -> freq`` map per frame with a single
    bias (``Conv2DTranspose(1, kernel=(n_freq, 1))``); the padded frames are cropped off.
    """

    def __init__(self, config: ModelConfig, *, n_freq: int, n_frames: int) -> None:
        super().__init__()
        c = config.channels
        self.n_frames = n_frames
        self.strides = time_strides(n_frames, config.last_stride)
        self.dense = nn.Linear(config.latent_dim, c)
        self.time2 = nn.Linear(c, self.strides[1] * c, bias=False)
        self.time2_bias = nn.Parameter(torch.zeros(c))
        self.time1 = nn.Linear(c, self.strides[0] * c, bias=False)
        self.time1_bias = nn.Parameter(torch.zeros(c))
        self.freq = nn.Linear(c, n_freq, bias=False)
        self.freq_bias = nn.Parameter(torch.zeros(1))
        self.dropout = nn.Dropout(config.dropout)
        for weight, fan_in in ((self.time2.weight, c), (self.time1.weight, c), (self.freq.weight, c)):
            nn.init.uniform_(weight, -1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Decode ``z`` [batch, latent] to [batch, freq, frames] in the network's scale."""
        b = z.shape[0]
        s1, s2 = self.strides
        h = self.dropout(F.relu(self.dense(z)))  # [b, c]
        h = self.time2(h).reshape(b, s2, -1) + self.time2_bias  # [b, s2, c]
        h = self.dropout(F.relu(h))
        h = self.time1(h).reshape(b, s2 * s1, -1) + self.time1_bias  # [b, s1*s2, c]
        h = self.dropout(F.relu(h))
        out = self.freq(h) + self.freq_bias  # [b, s1*s2, freq]
        return out[:, : self.n_frames].transpose(1, 2)


class LinearDecoder(nn.Module):
    """Latent [batch, latent] -> [batch, freq, frames] by one affine map: ``W z + b``.

    In the normalised log domain this is probabilistic PCA's decoder: ``b`` learns the mean
    spectrogram and ``W`` the directions sounds vary along, with every hit kept at its frame. It
    cannot memorise a clip it has no latent direction for, which is what generalises on a small
    library.
    """

    def __init__(self, config: ModelConfig, *, n_freq: int, n_frames: int) -> None:
        super().__init__()
        self.shape = (n_freq, n_frames)
        self.map = nn.Linear(config.latent_dim, n_freq * n_frames)
        nn.init.normal_(self.map.weight, std=0.01)
        nn.init.zeros_(self.map.bias)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.map(z).reshape(z.shape[0], *self.shape)

    @torch.no_grad()
    def init_pca(self, targets: torch.Tensor) -> None:
        """Start at the PCA of ``targets`` [clips, freq, frames] (the network's scale)."""
        axes, std, mean = principal_axes(targets.flatten(1), self.map.weight.shape[1])
        weight = torch.zeros_like(self.map.weight, dtype=torch.float64)
        weight[:, : len(std)] = (axes * std[:, None]).T
        self.map.weight.copy_(weight)
        self.map.bias.copy_(mean)


class HybridDecoder(nn.Module):
    """:class:`LinearDecoder` plus the reference :class:`Decoder` as a non-linear residual."""

    def __init__(self, config: ModelConfig, *, n_freq: int, n_frames: int) -> None:
        super().__init__()
        self.linear = LinearDecoder(config, n_freq=n_freq, n_frames=n_frames)
        self.conv = Decoder(config, n_freq=n_freq, n_frames=n_frames)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.linear(z) + self.conv(z)


# -- registries: a new encoder, decoder or input scale is one class/function and one entry here ----
# Each encoder and decoder class is built as ``cls(config, n_freq=..., n_frames=...)``.
ENCODERS: dict[str, type[nn.Module]] = {"conv": Encoder, "linear": LinearEncoder}
DECODERS: dict[str, type[nn.Module]] = {"conv": Decoder, "linear": LinearDecoder, "hybrid": HybridDecoder}
check_registry(ENCODERS, EncoderName, "encoder")
check_registry(DECODERS, DecoderName, "decoder")


@dataclass(frozen=True)
class InputScale:
    """What the network sees of a magnitude, and the way back to a non-negative magnitude."""

    forward: Callable[[torch.Tensor, ModelConfig], torch.Tensor]  # magnitude -> network scale
    inverse: Callable[[torch.Tensor, ModelConfig], torch.Tensor]  # network scale -> magnitude >= 0
    relu_output: bool = False  # the decoder's output goes through a ReLU (the reference's linear output)
    # k where forward(g * mag) = g ** k * forward(mag) (a gain scales the network's values by g ** k);
    # None where no such k exists (log)
    degree: Callable[[ModelConfig], float] | None = None


INPUT_SCALES: dict[str, InputScale] = {
    "linear": InputScale(
        lambda mag, c: mag, lambda out, c: out.clamp_min(0.0), relu_output=True, degree=lambda c: 1.0
    ),
    "log": InputScale(
        lambda mag, c: log_scale(mag, floor=c.log_floor),
        lambda out, c: inverse_log_scale(out, floor=c.log_floor),
    ),
    "power": InputScale(
        lambda mag, c: mag.clamp_min(0.0).pow(c.power),
        lambda out, c: out.clamp_min(0.0).pow(1.0 / c.power),
        degree=lambda c: c.power,
    ),
}
check_registry(INPUT_SCALES, InputScaleName, "input scale")


class SpectrogramVAE(nn.Module):
    """The VAE on magnitudes [batch, freq, frames], with the input scaling of its config.

    ``paper`` sees linear magnitudes and outputs them through a ReLU. With ``input_scale="log"``
    the network sees ``log(1 + |D| / floor)``, with ``"power"`` ``|D| ** power``, and with
    ``normalize`` each frequency bin is standardised by training-set statistics (buffers saved with
    the weights); the decoder's output is mapped back to a non-negative magnitude by :meth:`to_magnitude`.
    """

    freq_mean: torch.Tensor  # [freq, 1], buffer
    freq_std: torch.Tensor  # [freq, 1], buffer
    # whether training's precision "auto" may run this family under bf16 autocast on a CPU with
    # native bf16 (measured harmless to held-out quality, ``python -m bench.precision``). Not the
    # reference family: ``paper`` keeps its fp32 numerics unless bf16 is asked for
    autocast_bf16: ClassVar[bool] = False

    def __init__(self, config: ModelConfig, *, n_freq: int, n_frames: int) -> None:
        super().__init__()
        self.config = config
        self.n_freq = n_freq
        self.n_frames = n_frames
        self.input_scale = INPUT_SCALES[config.input_scale]
        self.encoder, self.decoder = self.networks(config, n_freq=n_freq, n_frames=n_frames)
        self.register_buffer("freq_mean", torch.zeros(n_freq, 1))
        self.register_buffer("freq_std", torch.ones(n_freq, 1))

    @staticmethod
    def networks(config: ModelConfig, *, n_freq: int, n_frames: int) -> tuple[nn.Module, nn.Module]:
        """(encoder, decoder) of ``config``: the registries' (a subclass builds its own)."""
        encoder = ENCODERS[config.encoder](config, n_freq=n_freq, n_frames=n_frames)
        return encoder, DECODERS[config.decoder](config, n_freq=n_freq, n_frames=n_frames)

    @property
    def device(self) -> torch.device:
        return self.freq_mean.device

    # -- what differs by family (a family overrides these; see soundmorph.models.MODELS) --------
    @classmethod
    def size_of(cls, config: ModelConfig, n_frames: int) -> int:
        """Length of one clip's latent vector for ``config`` and clips of ``n_frames`` frames."""
        return config.latent_dim

    @property
    def latent_size(self) -> int:
        """Length of one clip's latent vector."""
        return self.size_of(self.config, self.n_frames)

    def sample_latents(self, library: torch.Tensor, count: int, *, seed: int) -> torch.Tensor:
        """``count`` new latents [count, latent_size] for ``generate``: draws from the prior N(0, I)
        (``library`` [n, latent_size], the library's latents, is not needed by this family)."""
        return latent.sample_prior(count, self.latent_size, seed=seed)

    def loss_terms(self, mags: torch.Tensor, noise: Noise | None) -> tuple[torch.Tensor, torch.Tensor]:
        """(reconstruction MSE [batch] in the network's scale, KL [batch]) of magnitudes
        [batch, freq, frames]. ``noise`` draws the posterior sample's standard normals; None uses the
        posterior mean (evaluation)."""
        target = self.to_input(mags)
        posterior = self.encoder(target)
        z = posterior.mode()
        if noise is not None:
            eps = noise(tuple(z.shape[1:]))
            z = z + (posterior.scale_tril @ eps.unsqueeze(-1)).squeeze(-1)
        recon = self.output(z)
        return (recon - target).pow(2).mean(dim=(1, 2)), posterior.kl()

    def scale(self, mag: torch.Tensor) -> torch.Tensor:
        """Magnitude [..., freq, frames] -> the network's scale, before normalisation."""
        return self.input_scale.forward(mag, self.config)

    @torch.no_grad()
    def init_from_data(self, mags: torch.Tensor) -> None:
        """Fit what depends on the training magnitudes [clips, freq, frames] before training.

        With ``normalize``: the per-bin statistics. With a ``linear`` or ``hybrid`` decoder: its
        affine map starts as the training set's PCA in the network's scale (bias = mean, columns =
        the first ``latent_dim`` principal axes scaled by their standard deviations, so ``z ~ N(0, I)``
        spans the data); a gradient step of Adam moves each of its ~n_freq x n_frames biases by
        about the learning rate, far too little to learn a mean spectrogram from zero. A no-op for
        ``paper``.
        """
        targets = self._fit_inputs(mags)
        if targets is None:
            return
        linear = getattr(self.decoder, "linear", self.decoder)
        if isinstance(linear, LinearDecoder):
            linear.init_pca(targets)
        if isinstance(self.encoder, LinearEncoder):
            self.encoder.init_pca(targets)

    @torch.no_grad()
    def _fit_inputs(self, mags: torch.Tensor) -> torch.Tensor | None:
        """Set the normalisation statistics (with ``normalize``) from ``mags`` [n, freq, frames] and
        return them as the network sees them; None when they are not finite (no PCA start of broken
        data: training reports the non-finite loss instead)."""
        if self.config.normalize:
            scaled = self.scale(mags.to(self.device))
            self.freq_mean.copy_(scaled.mean(dim=(0, 2)).unsqueeze(-1))
            self.freq_std.copy_(scaled.std(dim=(0, 2)).clamp_min(1e-3).unsqueeze(-1))
        targets = self.to_input(mags.to(self.device))
        return targets if bool(torch.isfinite(targets).all()) else None

    def to_input(self, mag: torch.Tensor) -> torch.Tensor:
        """Magnitude [batch, freq, frames] -> network input/target of the same shape."""
        scaled = self.scale(mag)
        if self.config.normalize:
            scaled = (scaled - self.freq_mean) / self.freq_std
        return scaled

    def to_magnitude(self, out: torch.Tensor) -> torch.Tensor:
        """Network output [batch, freq, frames] -> non-negative magnitude."""
        if self.config.normalize:
            out = out * self.freq_std + self.freq_mean
        return self.input_scale.inverse(out, self.config)

    def output(self, z: torch.Tensor) -> torch.Tensor:
        """Decoder output [batch, freq, frames] in the network's scale (ReLU'd for linear input)."""
        out = self.decoder(z)
        return F.relu(out) if self.input_scale.relu_output else out

    def encode(self, mag: torch.Tensor) -> Posterior:
        """Posterior over the latent for magnitudes [batch, freq, frames]."""
        return self.encoder(self.to_input(mag))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Magnitudes [batch, freq, frames], non-negative, for latents [batch, latent]."""
        return self.to_magnitude(self.output(z))


def count_parameters(module: nn.Module) -> int:
    """Trainable parameters of ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
