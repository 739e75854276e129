"""Rendering: a trained model with its library, turning sources and latents into sounds.

Sounds are named by library index, by library file name, or by any audio file path (encoded on
the fly). :func:`load` gives a :class:`SoundModel`; every morph returns :class:`Sound` objects
(numpy audio + sample rate + spectrogram) that can be saved as WAV and PNG.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from soundmorph import audio, latent, quality
from soundmorph.audio import phase, spectral
from soundmorph.config import Preset
from soundmorph.errors import SoundmorphError
from soundmorph.models import SpectrogramVAE
from soundmorph.sound import Sound
from soundmorph.training import checkpoint
from soundmorph.training.checkpoint import ModelInfo

Source = int | str | Path  # a library index, a library file name, or a path to an audio file


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """``device`` if given, else CUDA when present, else the CPU."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except RuntimeError:
        raise SoundmorphError(f"unknown device {device!r}") from None


class SoundModel:
    """A trained model with its library, ready to encode, decode and render.

    Use :func:`load`. Latents are the posterior means unless ``sample=True`` is asked for.
    """

    def __init__(self, model: SpectrogramVAE, info: ModelInfo, library: dict, folder: Path) -> None:
        self.model = model
        self.info = info
        self.folder = folder
        self.root = Path(library["root"]) if library.get("root") else None
        entries = library["files"]
        self.names: list[str] = [entry["name"] for entry in entries]
        self.splits: list[str] = [entry.get("split", "train") for entry in entries]
        latent_dim = info.preset.model.latent_dim
        self.latents = torch.tensor([entry["latent"] for entry in entries], dtype=torch.float32).reshape(
            -1, latent_dim
        )

    @property
    def preset(self) -> Preset:
        """Every setting the model was trained and renders with."""
        return self.info.preset

    @property
    def sample_rate(self) -> int:
        return self.info.preset.audio.sample_rate

    @property
    def clip_samples(self) -> int:
        return self.info.preset.audio.clip_samples

    @property
    def device(self) -> torch.device:
        return self.model.device

    # -- encoding ---------------------------------------------------------------------------
    def stft(self, clips: np.ndarray) -> torch.Tensor:
        """Complex STFT [n, freq, frames] of clips [n, samples] fitted to the model's length."""
        a = self.info.preset.audio
        fitted = np.stack([audio.fit_length(clip, self.clip_samples) for clip in clips])
        batch = torch.from_numpy(fitted).to(self.device)
        return spectral.stft(batch, n_fft=a.n_fft, hop_length=a.hop_length, win_length=a.win_length)

    def magnitudes(self, clips: np.ndarray) -> torch.Tensor:
        """Magnitudes [n, freq, frames] of clips [n, samples] fitted to the model's length."""
        return self.stft(clips).abs()

    @torch.no_grad()
    def encode_audio(self, clip: np.ndarray, *, sample: bool = False, seed: int = 0) -> torch.Tensor:
        """Latent [latent] of mono audio [samples] at the model's rate (posterior mean or a sample)."""
        posterior = self.model.encode(self.magnitudes(clip[None]))
        if sample:
            return posterior.sample(torch.Generator(device=self.device).manual_seed(seed))[0].cpu()
        return posterior.mode()[0].cpu()

    def index_of(self, source: Source) -> int | None:
        """Library index of ``source`` (an index, or a library file name), None for other paths."""
        if isinstance(source, int) or (isinstance(source, str) and source.isdigit()):
            index = int(source)
            if not 0 <= index < len(self.names):
                raise SoundmorphError(f"no sound {index}: the library has indices 0..{len(self.names) - 1}")
            return index
        name = Path(str(source)).as_posix()
        if name in self.names:
            return self.names.index(name)
        return None

    def label(self, source: Source) -> str:
        """Short name of ``source`` for file names: the file stem."""
        index = self.index_of(source)
        return Path(self.names[index]).stem if index is not None else Path(str(source)).stem

    def source_path(self, source: Source) -> Path:
        """The audio file of ``source``: a library sound under the library root, or the path given."""
        index = self.index_of(source)
        if index is not None:
            if self.root is None:
                raise SoundmorphError(f"{self.folder}: library root unknown; cannot re-read sound {index}")
            return self.root / self.names[index]
        path = Path(str(source))
        if not path.exists():
            raise SoundmorphError(f"{source}: not a library index, a library file name or an audio file")
        return path

    def source_stft(self, source: Source) -> torch.Tensor:
        """Complex STFT [freq, frames] of the original ``source``, fitted to the model's clip length."""
        return self.stft(audio.read(self.source_path(source), sample_rate=self.sample_rate)[None])[0]

    def encode(self, source: Source, *, sample: bool = False, seed: int = 0) -> torch.Tensor:
        """Latent [latent] of a library sound (stored mean) or any audio file (encoded now)."""
        index = self.index_of(source)
        if index is not None and not sample:
            return self.latents[index]
        clip = audio.read(self.source_path(source), sample_rate=self.sample_rate)
        return self.encode_audio(clip, sample=sample, seed=seed)

    # -- decoding and rendering -------------------------------------------------------------
    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Magnitudes [n, freq, frames] of latents [n, latent]."""
        return self.model.decode(latents.to(self.device).reshape(-1, self.info.preset.model.latent_dim))

    def phase(
        self,
        mags: torch.Tensor,
        *,
        n_iter: int | None = None,
        momentum: float | None = None,
        seed: int = 0,
        length: int | None = None,
        init: str | torch.Tensor | None = None,
    ) -> np.ndarray:
        """Audio [n, samples] from magnitudes [n, freq, frames] by Griffin-Lim (the preset's settings
        unless overridden; ``init`` may be angles [n, freq, frames]), batched on the model's device."""
        p, a = self.info.preset.phase, self.info.preset.audio
        n_iter = p.n_iter if n_iter is None else n_iter
        momentum = p.momentum if momentum is None else momentum
        if n_iter < 0:
            raise SoundmorphError(f"Griffin-Lim iterations must be >= 0, got {n_iter}")
        if not 0.0 <= momentum < 1.0:
            raise SoundmorphError(f"Griffin-Lim momentum must be in [0, 1), got {momentum}")
        generator = torch.Generator(device=mags.device).manual_seed(seed)
        out = phase.griffin_lim(
            mags,
            n_fft=a.n_fft,
            hop_length=a.hop_length,
            win_length=a.win_length,
            n_iter=n_iter,
            momentum=momentum,
            init=p.init if init is None else init,
            generator=generator,
            length=length or self.clip_samples,
        )
        return out.cpu().numpy().astype(np.float32)

    def render(
        self,
        latents: torch.Tensor,
        names: list[str],
        *,
        init: torch.Tensor | None = None,
        **phase_options: Any,
    ) -> list[Sound]:
        """Decode latents [n, latent] and reconstruct audio: one :class:`Sound` each (``init``:
        initial phase angles [n, freq, frames], default the preset's)."""
        mags = self.decode(latents)
        clips = self.phase(mags, init=init, **phase_options)
        return [
            self._sound(clip, mag, name, latent)
            for clip, mag, name, latent in zip(
                clips, mags.cpu().numpy(), names, latents.cpu().numpy(), strict=True
            )
        ]

    def _sound(self, clip: np.ndarray, mag: np.ndarray, name: str, z: np.ndarray | None) -> Sound:
        hop = self.info.preset.audio.hop_length
        return Sound(clip, self.sample_rate, mag, name, hop, None if z is None else z.copy())

    # -- morphing ---------------------------------------------------------------------------
    def morph(
        self,
        a: Source,
        b: Source,
        alpha: float = 0.5,
        *,
        sample: bool = False,
        seed: int = 0,
        phase_from_source: bool = False,
        **phase_options: Any,
    ) -> Sound:
        """The sound at ``(1 - alpha) z_a + alpha z_b``; alpha 0 reconstructs ``a``.

        ``phase_from_source`` starts Griffin-Lim from the phase of the nearer source's original
        (re-read from its file) instead of the preset's initial phase: fewer iterations for the
        same spectral convergence (``python -m bench quality``, phase table).
        """
        alpha = latent.check_alpha(alpha)
        z = latent.lerp(
            self.encode(a, sample=sample, seed=seed), self.encode(b, sample=sample, seed=seed), alpha
        )
        name = f"morph_{self.label(a)}__{self.label(b)}_a{alpha:.2f}"
        init = self.source_stft(a if alpha <= 0.5 else b).angle()[None] if phase_from_source else None
        return self.render(z[None], [name], seed=seed, init=init, **phase_options)[0]

    def reconstruct(self, a: Source, **phase_options: Any) -> Sound:
        """``a`` through the model and back (``morph`` at alpha 0)."""
        sound = self.render(self.encode(a)[None], [f"recon_{self.label(a)}"], **phase_options)[0]
        return sound

    def sweep(
        self,
        a: Source,
        b: Source,
        steps: int = 9,
        *,
        phase_from_source: bool = False,
        **phase_options: Any,
    ) -> list[Sound]:
        """``steps`` sounds from ``a`` to ``b`` at evenly spaced ratios, rendered as one batch
        (``phase_from_source`` as in :meth:`morph`, per step)."""
        alphas = latent.sweep_alphas(steps)
        z = latent.lerp(self.encode(a), self.encode(b), alphas)
        stem = f"sweep_{self.label(a)}__{self.label(b)}"
        names = [f"{stem}_{k:02d}_a{float(alpha):.2f}" for k, alpha in enumerate(alphas)]
        init = None
        if phase_from_source:
            angles = torch.stack([self.source_stft(a).angle(), self.source_stft(b).angle()])
            init = angles[(alphas > 0.5).long().to(angles.device)]
        return self.render(z, names, init=init, **phase_options)

    def sweep_quality(self, a: Source, b: Source, sounds: list[Sound]) -> quality.SweepQuality:
        """Morph-quality figures (:mod:`soundmorph.quality`) of a sweep from ``a`` to ``b``, measured
        against the two originals."""
        mags = torch.from_numpy(np.stack([sound.magnitude for sound in sounds]))
        return quality.sweep_quality(
            mags,
            self.source_stft(a).abs().cpu(),
            self.source_stft(b).abs().cpu(),
            latent.sweep_alphas(len(sounds)),
            sample_rate=self.sample_rate,
        )

    def blend(self, items: list[tuple[Source, float]], **phase_options: Any) -> Sound:
        """The weighted mean of several sounds' latents (weights are normalised to sum to 1)."""
        if len(items) < 1:
            raise SoundmorphError("a blend needs at least one sound")
        weights = latent.blend_weights([w for _, w in items])
        latents = torch.stack([self.encode(source) for source, _ in items])
        name = "blend_" + "__".join(
            f"{self.label(s)}-{float(w):.2f}" for (s, _), w in zip(items, weights, strict=True)
        )
        return self.render(latent.blend(latents, weights)[None], [name], **phase_options)[0]

    def glide(
        self, a: Source, b: Source, *, repeats: int = 8, curve: str = "linear", **phase_options: Any
    ) -> Sound:
        """The clip repeated ``repeats`` times in one file while alpha moves from 0 to 1 along ``curve``.

        The magnitudes are decoded on a grid of ratios and interpolated per frame, joined into one
        long spectrogram and phase-reconstructed as a whole, so the repeats join without clicks.
        """
        if repeats < 1:
            raise SoundmorphError(f"repeats must be >= 1, got {repeats}")
        frames = self.info.n_frames
        alphas = latent.glide_alphas(repeats * frames, curve=curve)  # [repeats * frames]
        grid = torch.linspace(0.0, 1.0, 8 * repeats + 1)
        mags = self.decode(latent.lerp(self.encode(a), self.encode(b), grid))  # [grid, freq, frames]
        position = alphas * (len(grid) - 1)
        low = position.floor().long().clamp(max=len(grid) - 2)
        weight = (position - low).to(mags)
        local = torch.arange(repeats * frames) % frames
        joined = mags[low, :, local] * (1 - weight[:, None]) + mags[low + 1, :, local] * weight[:, None]
        joined = joined.T.contiguous()  # [freq, repeats * frames]
        clip = self.phase(joined[None], length=repeats * self.clip_samples, **phase_options)[0]
        name = f"glide_{self.label(a)}__{self.label(b)}_x{repeats}_{curve}"
        return self._sound(clip, joined.cpu().numpy(), name, None)

    def generate(self, count: int = 4, *, seed: int = 0, **phase_options: Any) -> list[Sound]:
        """``count`` new sounds decoded from latents drawn from the prior N(0, I)."""
        z = latent.sample_prior(count, self.info.preset.model.latent_dim, seed=seed)
        return self.render(
            z, [f"generated_s{seed}_{k:02d}" for k in range(count)], seed=seed, **phase_options
        )

    def map_points(self) -> np.ndarray:
        """2-D coordinates [n, 2] of the library's latents: their first two principal components."""
        return latent.latent_pca(self.latents)[0]


def load(folder: str | Path, *, device: str | torch.device | None = None) -> SoundModel:
    """The model in ``folder`` with its library index."""
    folder = Path(folder)
    model, info = checkpoint.load_model(folder, device=pick_device(device))
    library = checkpoint.load_library(folder)
    try:
        return SoundModel(model, info, library, folder)
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        raise SoundmorphError(
            f"{folder / checkpoint.LIBRARY_FILE}: invalid library index ({error})"
        ) from None
