"""A VAE whose latent keeps time: one small latent vector per step of frames, plus a global one.

A 16-number summary of a whole 2-bar loop cannot hold the loop (held-out cosine ~0.76); a few
numbers per STFT frame can (a per-frame PCA-8 reaches ~0.96). This family keeps the reference's
full-frequency convolution (one map over all bins -> a vector per frame) and adds:

- a **linear path** per step, started at the training frames' PCA (whitened), so the model starts
  at the per-frame PCA baseline and training can only refine it;
- a **non-linear residual**: the full-frequency map to ``channels``, a few temporal convolutions
  (kernel 3, residual, GELU) and a head that adds to the linear path's latent (encoder) or output
  (decoder), started at zero;
- a **global latent** of ``global_dim`` numbers (the mean over steps, through a dense head) that the
  decoder adds to every step: it carries what a whole clip shares;
- with ``colour_terms``, the clip's **colour**, measured rather than learned: its long-term power
  spectrum, fitted by ``colour_terms`` cosines over log frequency (:func:`colour_basis`), is divided
  out before the network and multiplied back after it. Another drum machine's voicing, a record's
  band limit or an EQ is then exact whatever the network has seen (the network sees every clip in
  the library's average colour), and a lerp of two latents moves from one colour to the other
  geometrically. The training loss is still that of the sound with its colour.

The latent of a clip is one flat vector ``[colour_terms + global_dim + steps * latent_dim]``
(colour, global, then the steps in time order), so every piece of latent arithmetic (lerp, blends,
the map) works on it unchanged. The posterior is a diagonal Gaussian whose scale is learned per
latent dimension and shared by all clips (as probabilistic PCA's is); the colour's is ~0.

Training augments each batch (only in ``train()`` mode, drawn from the loop's generator): circular
shifts by whole steps (a loop started elsewhere is still a loop), mixes of two clips (power sum
of their magnitudes), and optionally a random smooth EQ per clip and a stretch of its frequency
axis (another drum machine's colour and tuning), so 100-1000 clips are enough and loops of kits
the library lacks are still reconstructed. ``log_weight`` adds the squared error of log magnitudes
to the loss: the power scale's MSE alone neglects the quiet bins that the log-spectral distance
counts, and on kits it never saw the residual made them worse than the PCA start.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from soundmorph import latent
from soundmorph.config import ModelConfig
from soundmorph.models.vae import INITIAL_SCALE, Noise, Posterior, SpectrogramVAE
from soundmorph.pca import principal_axes

COLOUR_SCALE = 1e-6  # the posterior's scale of the colour numbers: measured, not inferred
COLOUR_RTOL = 1e-3  # singular values of the colour basis below this fraction of the largest are cut
EQ_TERMS = 4  # cosines over log frequency that make a random EQ curve: up to 1.5 periods, smooth


def n_steps(n_frames: int, step_frames: int) -> int:
    """Latent steps of a clip of ``n_frames`` frames (the last step zero-padded)."""
    return math.ceil(n_frames / step_frames)


def latent_size(config: ModelConfig, n_frames: int) -> int:
    """Length of a clip's flat latent: ``colour_terms + global_dim + steps * latent_dim``."""
    return config.colour_terms + config.global_dim + n_steps(n_frames, config.step_frames) * config.latent_dim


def colour_basis(terms: int, n_freq: int) -> torch.Tensor:
    """The smooth curves [terms, n_freq] a clip's colour is made of: cosines of 0 to ``terms - 1``
    half periods over log frequency (as :func:`random_eq`'s, finer), so low bins are resolved as
    finely as an octave band is and the top octave is not given half of the numbers."""
    bins = torch.arange(n_freq, dtype=torch.float64)
    u = torch.log1p(bins) / math.log(n_freq)
    return torch.cos(math.pi * torch.arange(terms, dtype=torch.float64)[:, None] * u)


class DiagonalPosterior(Posterior):
    """A Gaussian ``N(mean, diag(std^2))``: a :class:`~soundmorph.models.vae.Posterior` that keeps
    only the diagonal (a full scale of a 1,000-number latent would be a million numbers per clip).

    Parameters
    ----------
    mean, std : torch.Tensor [shape=(batch, latent)]
        ``std`` positive.
    """

    def __init__(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        self.mean = mean
        self.std = std

    @property
    def scale_tril(self) -> torch.Tensor:  # type: ignore[override]
        """The scale as a diagonal matrix [batch, latent, latent] (large: for inspection only)."""
        return torch.diag_embed(self.std)

    def mode(self) -> torch.Tensor:
        return self.mean

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        eps = torch.randn(self.mean.shape, generator=generator, device=self.mean.device)
        return self.mean + self.std * eps

    def kl(self) -> torch.Tensor:
        """``KL(q || N(0, I))`` per item [batch], nats."""
        var = self.std.pow(2)
        return 0.5 * (var + self.mean.pow(2) - 1.0 - var.log()).sum(-1)


def to_steps(x: torch.Tensor, step_frames: int) -> torch.Tensor:
    """[batch, freq, frames] -> [batch, steps, step_frames * freq], the last step zero-padded."""
    b, f, t = x.shape
    steps = n_steps(t, step_frames)
    x = F.pad(x, (0, steps * step_frames - t)).transpose(1, 2)  # [b, steps * s, freq]
    return x.reshape(b, steps, step_frames * f)


def from_steps(y: torch.Tensor, n_freq: int, n_frames: int) -> torch.Tensor:
    """Inverse of :func:`to_steps`: [batch, steps, s * freq] -> [batch, freq, n_frames]."""
    b = y.shape[0]
    return y.reshape(b, -1, n_freq)[:, :n_frames].transpose(1, 2)


def _uniform(
    n: int, half_width: float, generator: torch.Generator | None, device: torch.device
) -> torch.Tensor:
    """``n`` numbers drawn uniformly from [-half_width, half_width]."""
    return (2.0 * torch.rand(n, generator=generator, device=device) - 1.0) * half_width


def random_eq(
    n: int, n_freq: int, peak_db: float, generator: torch.Generator | None, device: torch.device
) -> torch.Tensor:
    """Linear gains [n, n_freq] of ``n`` random smooth EQ curves, each within +-``peak_db`` dB.

    A curve is a random sum of :data:`EQ_TERMS` cosines over log frequency (a gain, a tilt, broad
    boosts and cuts: what tells one drum machine or one mix from another), scaled so that its
    largest excursion is a random fraction of ``peak_db``.
    """
    bins = torch.arange(n_freq, device=device, dtype=torch.float32)
    u = torch.log1p(bins) / math.log(n_freq)  # log frequency in [0, 1]
    basis = torch.cos(math.pi * torch.arange(EQ_TERMS, device=device)[:, None] * u)  # [terms, freq]
    weights = 2.0 * torch.rand(n, EQ_TERMS, generator=generator, device=device) - 1.0
    curves = weights @ basis  # [n, freq]
    peak = curves.abs().amax(1, keepdim=True).clamp_min(1e-6)
    level = torch.rand(n, 1, generator=generator, device=device) * peak_db
    return torch.pow(10.0, curves / peak * level / 20.0)


def stretch_frequency(mag: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Magnitudes [batch, freq, frames] with each clip's frequency axis scaled by ``factor`` [batch]
    (bin ``f`` takes the magnitude at ``f / factor``, linearly interpolated; zero beyond Nyquist):
    a pitch shift of the whole clip."""
    n_freq = mag.shape[1]
    source = torch.arange(n_freq, device=mag.device, dtype=mag.dtype)[None] / factor[:, None].to(mag.dtype)
    low = source.floor().long().clamp(0, n_freq - 1)  # [b, freq]
    high = (low + 1).clamp(max=n_freq - 1)
    frac = (source - low).clamp(0.0, 1.0)[:, :, None]
    below = torch.gather(mag, 1, low[:, :, None].expand_as(mag))
    above = torch.gather(mag, 1, high[:, :, None].expand_as(mag))
    out = (1 - frac) * below + frac * above
    return torch.where((source <= n_freq - 1)[:, :, None], out, torch.zeros_like(out))


class _Temporal(nn.Module):
    """Residual temporal convolutions over steps: [batch, steps, channels] -> the same."""

    def __init__(self, channels: int, layers: int, kernel: int) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel, padding=kernel // 2) for _ in range(layers)
        )

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        h = h.transpose(1, 2)
        for conv in self.convs:
            h = h + F.gelu(conv(h))
        return h.transpose(1, 2)


class SequenceEncoder(nn.Module):
    """Network input [batch, freq, frames] -> :class:`DiagonalPosterior` over the flat latent."""

    def __init__(self, config: ModelConfig, *, n_freq: int, n_frames: int) -> None:
        super().__init__()
        c, k, g, s = config.channels, config.latent_dim, config.global_dim, config.step_frames
        self.config = config
        self.steps = n_steps(n_frames, s)
        width = s * n_freq
        self.project = nn.Linear(width, k)  # the linear path: whitened PCA of the steps
        self.frame = nn.Linear(width, c)  # the reference's Conv2D(c, kernel=(n_freq, 1)) per step
        self.temporal = _Temporal(c, config.temporal_layers, config.kernel)
        self.local_head = nn.Linear(c, k)
        self.global_head = nn.Linear(c, g) if g else None
        nn.init.zeros_(self.local_head.weight)
        nn.init.zeros_(self.local_head.bias)
        self.log_std = nn.Parameter(torch.full((g + k,), math.log(INITIAL_SCALE)))

    def forward(self, x: torch.Tensor) -> DiagonalPosterior:
        steps = to_steps(x, self.config.step_frames)  # [b, steps, width]
        h = self.temporal(F.gelu(self.frame(steps)))  # [b, steps, c]
        local = self.project(steps) + self.local_head(h)  # [b, steps, k]
        parts = [local.flatten(1)]
        if self.global_head is not None:
            parts.insert(0, self.global_head(h.mean(1)))
        mean = torch.cat(parts, dim=1)
        g = self.config.global_dim
        std = torch.cat([self.log_std[:g], self.log_std[g:].repeat(self.steps)]).exp()
        return DiagonalPosterior(mean, std.expand_as(mean))


class SequenceDecoder(nn.Module):
    """Flat latent [batch, global + steps * latent] -> network output [batch, freq, frames]."""

    def __init__(self, config: ModelConfig, *, n_freq: int, n_frames: int) -> None:
        super().__init__()
        c, k, g, s = config.channels, config.latent_dim, config.global_dim, config.step_frames
        self.config = config
        self.n_freq, self.n_frames = n_freq, n_frames
        width = s * n_freq
        self.unproject = nn.Linear(k, width)  # the linear path: PCA axes scaled by their std
        self.local_in = nn.Linear(k, c)
        self.global_in = nn.Linear(g, c) if g else None
        self.temporal = _Temporal(c, config.temporal_layers, config.kernel)
        self.out = nn.Linear(c, width)  # the reference's ConvTranspose(1, kernel=(n_freq, 1)) per step
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        g, k = self.config.global_dim, self.config.latent_dim
        expected = latent_size(self.config, self.n_frames) - self.config.colour_terms
        if z.ndim != 2 or z.shape[1] != expected:
            raise ValueError(f"latents must be [batch, {expected}] for this model, got {tuple(z.shape)}")
        local = z[:, g:].reshape(z.shape[0], -1, k)  # [b, steps, k]
        h = self.local_in(local)
        if self.global_in is not None:
            h = h + self.global_in(z[:, :g])[:, None]
        h = self.temporal(F.gelu(h))
        return from_steps(self.unproject(local) + self.out(h), self.n_freq, self.n_frames)


class SequenceVAE(SpectrogramVAE):
    """:class:`SpectrogramVAE` with a latent per step (:class:`SequenceEncoder`, :class:`SequenceDecoder`).

    Scaling, normalisation and ``encode``/``decode`` are the parent's, with the colour
    (``colour_terms``) divided out before them and multiplied back after them; this class adds the
    colour, the per-step PCA start, the augmentation, its loss terms and the flat latent's size.
    """

    # bf16 autocast: 1.25x an epoch at held-out cosine -0.0002 (2026-12-08, bench/results/precision.md)
    autocast_bf16: ClassVar[bool] = True

    colour_basis: torch.Tensor  # [colour_terms, freq], buffers when colour_terms > 0
    colour_fit: torch.Tensor  # [freq, colour_terms]
    colour_mean: torch.Tensor  # [colour_terms]

    def __init__(self, config: ModelConfig, *, n_freq: int, n_frames: int) -> None:
        super().__init__(config, n_freq=n_freq, n_frames=n_frames)
        if config.colour_terms:
            basis = colour_basis(config.colour_terms, n_freq)
            # [freq, terms]: log power -> least-squares colour; beyond ~24 terms on 1025 bins the
            # cosines alias on the few lowest bins, so directions the bins cannot tell apart are cut
            fit = torch.linalg.pinv(basis.T, rtol=COLOUR_RTOL).T
            self.register_buffer("colour_basis", basis.float(), persistent=False)
            self.register_buffer("colour_fit", fit.float(), persistent=False)
            self.register_buffer("colour_mean", torch.zeros(config.colour_terms))  # the training clips' mean

    @staticmethod
    def networks(config: ModelConfig, *, n_freq: int, n_frames: int) -> tuple[nn.Module, nn.Module]:
        """(encoder, decoder): a latent per step."""
        encoder = SequenceEncoder(config, n_freq=n_freq, n_frames=n_frames)
        return encoder, SequenceDecoder(config, n_freq=n_freq, n_frames=n_frames)

    @classmethod
    def size_of(cls, config: ModelConfig, n_frames: int) -> int:
        """Length of a clip's flat latent."""
        return latent_size(config, n_frames)

    def sample_latents(self, library: torch.Tensor, count: int, *, seed: int) -> torch.Tensor:
        """``count`` new latents around the library [n, latent_size]
        (:func:`soundmorph.latent.sample_around`): a draw from N(0, I) decodes to per-frame noise,
        not a loop. The prior's draws for an empty library."""
        if len(library) == 0:
            return super().sample_latents(library, count, seed=seed)
        return latent.sample_around(library, count, seed=seed)

    def colour(self, mag: torch.Tensor) -> torch.Tensor:
        """The colour [batch, colour_terms] of magnitudes [batch, freq, frames]: the least-squares
        fit of the clip's log mean power over frames (floored at ``log_floor ** 2``) by
        :func:`colour_basis`, less the training clips' mean colour."""
        power = mag.square().mean(2).clamp_min(self.config.log_floor**2)
        return power.log() @ self.colour_fit - self.colour_mean

    def colour_gain(self, colour: torch.Tensor) -> torch.Tensor:
        """Magnitude gains [batch, freq, 1] of colours [batch, colour_terms] (power ``exp(c @ basis)``)."""
        return torch.exp(0.5 * (colour @ self.colour_basis))[:, :, None]

    def _split_colour(self, mag: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor]:
        """(colour [batch, terms] or None without one, magnitudes with it divided out)."""
        if not self.config.colour_terms:
            return None, mag
        colour = self.colour(mag)
        return colour, mag / self.colour_gain(colour)

    def encode(self, mag: torch.Tensor) -> Posterior:
        """Posterior over the flat latent (the colour first, exact: its scale is ~0)."""
        colour, mag = self._split_colour(mag)
        posterior = self.encoder(self.to_input(mag))
        if colour is None:
            return posterior
        assert isinstance(posterior, DiagonalPosterior)
        exact = torch.full_like(colour, COLOUR_SCALE)
        return DiagonalPosterior(torch.cat([colour, posterior.mean], 1), torch.cat([exact, posterior.std], 1))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Magnitudes [batch, freq, frames] of flat latents [batch, latent_size]."""
        terms = self.config.colour_terms
        if not terms:
            return super().decode(z)
        if z.ndim != 2 or z.shape[1] != self.latent_size:
            expected = f"[batch, {self.latent_size}]"
            raise ValueError(f"latents must be {expected} for this model, got {tuple(z.shape)}")
        return super().decode(z[:, terms:]) * self.colour_gain(z[:, :terms])

    def loss_terms(self, mags: torch.Tensor, noise: Noise | None) -> tuple[torch.Tensor, torch.Tensor]:
        """(reconstruction loss [batch], KL [batch]) for the training loop: the MSE in the network's
        scale plus ``log_weight`` times the MSE of the log magnitudes (floored at ``log_floor``), on
        magnitudes augmented by :meth:`augment` while training (``noise`` given: a training
        step). The augmentation's generator is seeded from the batch's per-clip draws, so a run is
        reproducible and resumable."""
        if noise is not None and self.training:
            seed = hash(tuple(noise((1,)).flatten().tolist())) & 0x7FFF_FFFF_FFFF_FFFF
            mags = self.augment(mags, torch.Generator(device=mags.device).manual_seed(seed))
        colour, plain = self._split_colour(mags)  # the colour is exact: no loss of its own
        target = self.to_input(plain)
        posterior = self.encoder(target)
        assert isinstance(posterior, DiagonalPosterior)
        z = posterior.mean
        if noise is not None:  # the diagonal scale, without building scale_tril
            z = z + posterior.std * noise(tuple(z.shape[1:]))
        recon = self.output(z)
        error = recon - target
        degree = self.input_scale.degree
        if colour is not None and degree is not None and not self.config.normalize:
            # the error of the sound with its colour, as without one: the colour's gain g scales
            # the network's values by g ** degree
            error = error * self.colour_gain(colour).pow(degree(self.config))
        loss = error.pow(2).mean(dim=(1, 2))
        if self.config.log_weight > 0:
            loss = loss + self.config.log_weight * self._log_error(recon, target)
        return loss, posterior.kl()

    def _log_error(self, recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean squared difference [batch] of ``ln max(|D|, log_floor)`` between network outputs and
        targets [batch, freq, frames]. For the power scale it is taken as ``ln(out)`` with the floor
        in that scale, divided by ``power ** 2`` once: the same value without the power's cost (which
        made each training step ~45 % slower)."""
        cfg = self.config
        if cfg.input_scale == "power" and not cfg.normalize:
            floor = cfg.log_floor**cfg.power
            with torch.no_grad():
                reference = target.clamp_min(floor).log()
            error = recon.clamp_min(floor).log() - reference
            return error.square().mean(dim=(1, 2)) / cfg.power**2
        with torch.no_grad():
            reference = self.to_magnitude(target).clamp_min(cfg.log_floor).log()
        error = self.to_magnitude(recon).clamp_min(cfg.log_floor).log() - reference
        return error.square().mean(dim=(1, 2))

    @torch.no_grad()
    def init_from_data(self, mags: torch.Tensor) -> None:
        """Normalisation statistics (with ``normalize``), then both linear paths at the whitened PCA
        of the training steps [clips * steps, step_frames * freq] in the network's scale."""
        if self.config.colour_terms:
            mags = mags.to(self.device)
            self.colour_mean.zero_()  # so that colour() gives the clips' own colours
            self.colour_mean.copy_(self.colour(mags).mean(0))
            mags = self._split_colour(mags)[1]
        targets = self._fit_inputs(mags)
        if targets is None:
            return
        rows = to_steps(targets, self.config.step_frames).flatten(0, 1)
        axes, std, mean = principal_axes(rows, self.config.latent_dim)
        encoder, decoder = self.encoder, self.decoder
        assert isinstance(encoder, SequenceEncoder) and isinstance(decoder, SequenceDecoder)
        project = torch.zeros_like(encoder.project.weight, dtype=torch.float64)
        project[: len(std)] = axes / std[:, None]
        encoder.project.weight.copy_(project)
        encoder.project.bias.copy_(-(project @ mean))
        unproject = torch.zeros_like(decoder.unproject.weight, dtype=torch.float64)
        unproject[:, : len(std)] = (axes * std[:, None]).T
        decoder.unproject.weight.copy_(unproject)
        decoder.unproject.bias.copy_(mean)

    def augment(self, mag: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """Training augmentation of magnitudes [batch, freq, frames]: a circular shift by whole
        steps per clip, and with probability ``augment_mix`` a power-sum mix with another clip of
        the batch at a random weight."""
        cfg = self.config
        b, _, t = mag.shape
        device = mag.device
        if cfg.augment_shift:
            steps = n_steps(t, cfg.step_frames)
            shifts = torch.randint(0, steps, (b,), generator=generator, device=device) * cfg.step_frames
            # one roll per clip: a gather would build an int64 index as large as the batch
            mag = torch.stack([row.roll(int(k), dims=1) for row, k in zip(mag, shifts.tolist(), strict=True)])
        if cfg.augment_mix > 0 and b > 1:
            mixed = torch.rand(b, generator=generator, device=device) < cfg.augment_mix
            partner = torch.randperm(b, generator=generator, device=device)
            w = torch.rand(b, 1, 1, generator=generator, device=device)
            blend = (w * mag.pow(2) + (1 - w) * mag[partner].pow(2)).sqrt()
            mag = torch.where(mixed[:, None, None], blend, mag)
        if cfg.augment_stretch > 0:
            mag = stretch_frequency(mag, _uniform(b, cfg.augment_stretch, generator, device) + 1.0)
        if cfg.augment_eq_db > 0:
            mag = mag * random_eq(b, mag.shape[1], cfg.augment_eq_db, generator, device)[:, :, None]
        return mag
