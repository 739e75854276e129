"""Phase reconstruction in torch: from a magnitude spectrogram back to audio.

Pure functions, batched over leading dimensions, on whatever device the magnitudes live on.
:data:`PHASE_METHODS` is the registry the renderer chooses from by name
(:attr:`soundmorph.config.RenderOptions.method`): a new method is one function with the
:class:`PhaseFunction` signature and one entry.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn.functional as F

from soundmorph.audio.spectral import EPS, hann_window
from soundmorph.config import (
    GL_ITERATIONS,
    GL_MOMENTUM,
    HOP_LENGTH,
    N_FFT,
    WIN_LENGTH,
    AudioConfig,
    RenderOptions,
)
from soundmorph.errors import SoundmorphError

ANGLE_INITS = ("random", "zeros", "advance")  # initial phases computed without a source


def initial_phase(
    mag: torch.Tensor,
    init: str | torch.Tensor = "random",
    *,
    hop_length: int = HOP_LENGTH,
    n_fft: int = N_FFT,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Initial phase in radians [..., freq, frames] for :func:`griffin_lim`.

    Parameters
    ----------
    mag : torch.Tensor [shape=(..., n_fft // 2 + 1, frames)]
        Only its shape and device are used.
    init : {"random", "zeros", "advance"} or torch.Tensor [shape=mag.shape]
        ``random``: uniform in [0, 2 pi) from ``generator``; ``zeros``; ``advance``: every bin's
        phase advances at the bin's centre frequency, ``2 pi k hop t / n_fft`` (what a stationary
        partial centred on bin ``k`` would have); a tensor: these angles (e.g. a source's phase).
    """
    if isinstance(init, torch.Tensor):
        if init.shape[-2:] != mag.shape[-2:]:
            raise ValueError(f"initial phase has shape {tuple(init.shape)}, magnitude {tuple(mag.shape)}")
        return init.to(device=mag.device, dtype=torch.float32).expand(mag.shape)
    if init == "random":
        return torch.rand(mag.shape, generator=generator, device=mag.device) * (2 * math.pi)
    if init == "zeros":
        return torch.zeros(mag.shape, device=mag.device)
    if init == "advance":
        k = torch.arange(mag.shape[-2], device=mag.device, dtype=torch.float64)[:, None]
        t = torch.arange(mag.shape[-1], device=mag.device, dtype=torch.float64)[None, :]
        phase = torch.remainder(2 * math.pi * k * t * hop_length / n_fft, 2 * math.pi)
        return phase.float().expand(mag.shape)
    raise ValueError(f"unknown init {init!r}; use one of {ANGLE_INITS} or a tensor of angles")


class _FrameOps:
    """A lean STFT/ISTFT pair for the Griffin-Lim loop, on frames laid out [batch, frames, freq].

    Equivalent to :func:`stft` of :func:`istft` with ``length`` samples, but without re-padding:
    frames overlap-add into one buffer of ``n_fft + hop * (frames - 1)`` samples, one
    multiplication by a precomputed gain (the inverse window-sum envelope, zero outside the
    ``length`` samples the centred ISTFT keeps), and the next analysis frames are cut from that
    same buffer. Overlap-add and framing work on hop-sized blocks: a frame is ``ceil(n_fft / hop)``
    consecutive blocks, so both are a handful of shifted slices instead of ``fold``/``unfold``
    (which are slow on CPU and leave strided memory for the FFT).
    """

    def __init__(
        self, *, n_fft: int, hop_length: int, win_length: int, frames: int, length: int, device: torch.device
    ) -> None:
        self.n_fft, self.hop, self.frames, self.length = n_fft, hop_length, frames, length
        self._buffers: dict[str, torch.Tensor] = {}
        self.blocks = -(-n_fft // hop_length)  # hop-sized blocks per frame
        window = hann_window(win_length, device=device)
        left = (n_fft - win_length) // 2  # torch.stft centres a short window in the frame
        window = F.pad(window, (left, n_fft - win_length - left))  # [n_fft]
        self.window = F.pad(window, (0, self.blocks * hop_length - n_fft))  # [blocks * hop], zero tail
        self.size = hop_length * (frames + self.blocks - 1)  # >= n_fft + hop * (frames - 1)
        envelope = self._overlap_add(self.window.pow(2).expand(1, frames, -1))[0].clone()
        keep = torch.zeros(self.size, device=device)
        start = n_fft // 2
        keep[start : start + length] = 1.0  # the centred ISTFT crops n_fft // 2 and keeps length
        self.gain = torch.where(envelope > 1e-11, keep / envelope.clamp_min(1e-11), 0.0)

    def _buffer(self, name: str, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
        """A scratch tensor kept across iterations: allocating ~1 MB per op cost ~15 % of the loop."""
        buffer = self._buffers.get(name)
        if buffer is None or buffer.shape != shape:
            buffer = self._buffers[name] = like.new_empty(shape)
        return buffer

    def _overlap_add(self, frames: torch.Tensor) -> torch.Tensor:
        """[batch, frames, blocks * hop] -> [batch, size]: frame t starts at sample t * hop."""
        b, t = frames.shape[0], frames.shape[1]
        blocks = frames.reshape(b, t, self.blocks, self.hop)
        out = self._buffer("ola", (b, t + self.blocks - 1, self.hop), frames).zero_()
        for j in range(self.blocks):
            out[:, j : j + t] += blocks[:, :, j]
        return out.reshape(b, self.size)

    def synthesis(self, spec: torch.Tensor) -> torch.Tensor:
        """[batch, frames, freq] complex -> padded signal [batch, size] (overlap-add, normalised)."""
        shape = (spec.shape[0], spec.shape[1], self.n_fft)
        frames = torch.fft.irfft(spec, n=self.n_fft, dim=-1, out=self._buffer("frames", shape, self.window))
        if self.window.shape[0] != self.n_fft:
            frames = F.pad(frames, (0, self.window.shape[0] - self.n_fft))
        return self._overlap_add(frames.mul_(self.window)).mul_(self.gain)

    def analysis(self, signal: torch.Tensor) -> torch.Tensor:
        """Padded signal [batch, size] -> [batch, frames, freq] complex."""
        # a strided view of the overlapping frames; multiplying by the window makes it contiguous
        framed = signal.unfold(-1, self.n_fft, self.hop)[:, : self.frames]
        frames = torch.mul(
            framed, self.window[: self.n_fft], out=self._buffer("frames", framed.shape, signal)
        )
        return torch.fft.rfft(frames, dim=-1)

    def audio(self, signal: torch.Tensor) -> torch.Tensor:
        """Padded signal [batch, size] -> audio [batch, length] (zero-padded when length runs past)."""
        start = self.n_fft // 2
        out = signal[:, start : start + self.length]
        return F.pad(out, (0, self.length - out.shape[-1]))


def griffin_lim(
    mag: torch.Tensor,
    *,
    n_fft: int = N_FFT,
    hop_length: int = HOP_LENGTH,
    win_length: int = WIN_LENGTH,
    n_iter: int = GL_ITERATIONS,
    momentum: float = GL_MOMENTUM,
    init: str | torch.Tensor = "random",
    generator: torch.Generator | None = None,
    length: int | None = None,
) -> torch.Tensor:
    """Audio whose STFT magnitude approximates ``mag`` (fast Griffin-Lim, batched).

    The update is librosa's: ``angles = rebuilt - momentum / (1 + momentum) * previous``,
    normalised to unit modulus; ``momentum=0`` is the original Griffin-Lim. Each iteration is
    :func:`istft` then :func:`stft` (to float tolerance), computed by a lean frame-domain pair
    (``irfft`` + overlap-add of shifted hop-sized blocks, strided framing + ``rfft``, precomputed
    window and envelope; see :class:`_FrameOps`).

    Parameters
    ----------
    mag : torch.Tensor [shape=(..., n_fft // 2 + 1, frames), non-negative]
    n_iter : int
        Iterations (the reference uses 32).
    momentum : float
        In [0, 1); 0.99 is librosa's default.
    init : {"random", "zeros", "advance"} or torch.Tensor [shape=mag.shape]
        Initial phase, see :func:`initial_phase`.
    generator : torch.Generator, optional
        Source of the random initial phase, for reproducible audio. Must live on ``mag``'s device.
    length : int, optional
        Samples of the output; default ``(frames - 1) * hop_length``.

    Returns
    -------
    torch.Tensor [shape=(..., length), float32]
    """
    if not 0.0 <= momentum < 1.0:
        raise ValueError(f"momentum must be in [0, 1), got {momentum}")
    if mag.shape[-2] != n_fft // 2 + 1:
        raise ValueError(f"magnitude has {mag.shape[-2]} bins, n_fft {n_fft} needs {n_fft // 2 + 1}")
    mag = mag.float()
    batch_shape, (n_freq, frames) = mag.shape[:-2], mag.shape[-2:]
    phase = initial_phase(mag, init, hop_length=hop_length, n_fft=n_fft, generator=generator)
    length = length if length is not None else (frames - 1) * hop_length
    ops = _FrameOps(
        n_fft=n_fft,
        hop_length=hop_length,
        win_length=win_length,
        frames=frames,
        length=length,
        device=mag.device,
    )
    # [batch, frames, freq]: frames are rows, so rfft/irfft run on contiguous memory
    mag_t = mag.reshape(-1, n_freq, frames).transpose(1, 2).contiguous()
    spec = torch.polar(mag_t, phase.reshape(-1, n_freq, frames).transpose(1, 2).contiguous())
    weight = momentum / (1.0 + momentum)
    previous: torch.Tensor | None = None
    # The update runs on real views [..., 2] of the complex spectra: complex division and abs are
    # several times slower on the CPU than these float operations, and dominated the loop.
    # Each step is one fused or in-place op: on tensors this size, allocation and the reductions
    # over a size-2 axis (abs, norm) cost more than the arithmetic.
    angles = torch.empty((*mag_t.shape, 2), device=mag.device)
    squared, gain = torch.empty_like(angles), torch.empty_like(mag_t)
    for _ in range(n_iter):
        rebuilt = torch.view_as_real(ops.analysis(ops.synthesis(spec)))
        if weight and previous is not None:
            torch.add(rebuilt, previous, alpha=-weight, out=angles)
        else:
            angles.copy_(rebuilt)
        torch.mul(angles, angles, out=squared)
        torch.add(squared[..., 0], squared[..., 1], out=gain).add_(EPS * EPS).rsqrt_().mul_(mag_t)
        spec = torch.view_as_complex(angles.mul_(gain.unsqueeze(-1)))  # consumed before the next write
        previous = rebuilt
    audio = ops.audio(ops.synthesis(spec)).clone()  # out of the scratch buffer
    return audio.reshape(*batch_shape, length)


# -- the registry ----------------------------------------------------------------------------------
class PhaseFunction(Protocol):
    """A phase method: magnitudes [..., freq, frames] -> audio [..., length] (float32).

    ``options`` carries the method's settings (iterations, momentum, initial phase, seed),
    ``settings`` the STFT geometry and rate; ``source_phase`` [..., freq, frames] (radians) is the
    phase of the nearer source's original when the caller has one (see :func:`needs_source_phase`).
    """

    def __call__(
        self,
        mag: torch.Tensor,
        options: RenderOptions,
        settings: AudioConfig,
        *,
        length: int,
        source_phase: torch.Tensor | None = None,
    ) -> torch.Tensor: ...


@dataclass(frozen=True)
class PhaseMethod:
    """A registry entry: the function, and whether it always needs the source's phase."""

    reconstruct: PhaseFunction
    summary: str  # one line for help texts
    needs_source: bool = False


def _initial_angles(options: RenderOptions, source_phase: torch.Tensor | None) -> str | torch.Tensor:
    if options.init != "source":
        return options.init
    assert source_phase is not None, "reconstruct() checks that a source phase is given"
    return source_phase


def fgla(
    mag: torch.Tensor,
    options: RenderOptions,
    settings: AudioConfig,
    *,
    length: int,
    source_phase: torch.Tensor | None = None,
) -> torch.Tensor:
    """Fast Griffin-Lim: :func:`griffin_lim` with ``options.momentum`` (librosa's update)."""
    return griffin_lim(
        mag,
        n_fft=settings.n_fft,
        hop_length=settings.hop_length,
        win_length=settings.win_length,
        n_iter=options.n_iter,
        momentum=options.momentum,
        init=_initial_angles(options, source_phase),
        generator=torch.Generator(device=mag.device).manual_seed(options.seed),
        length=length,
    )


def gl(
    mag: torch.Tensor,
    options: RenderOptions,
    settings: AudioConfig,
    *,
    length: int,
    source_phase: torch.Tensor | None = None,
) -> torch.Tensor:
    """Griffin-Lim as published: :func:`fgla` without momentum (``options.momentum`` is not used)."""
    plain = dataclasses.replace(options, momentum=0.0)
    return fgla(mag, plain, settings, length=length, source_phase=source_phase)


PHASE_METHODS: dict[str, PhaseMethod] = {
    "gl": PhaseMethod(gl, "Griffin-Lim without momentum"),
    "fgla": PhaseMethod(fgla, "fast Griffin-Lim: Griffin-Lim with momentum (the reference's)"),
}


def needs_source_phase(options: RenderOptions) -> bool:
    """Whether rendering with ``options`` needs the phase of a source's original."""
    return options.init == "source" or PHASE_METHODS[options.method].needs_source


def reconstruct(
    mag: torch.Tensor,
    options: RenderOptions,
    settings: AudioConfig,
    *,
    length: int,
    source_phase: torch.Tensor | None = None,
) -> torch.Tensor:
    """Audio [..., length] of magnitudes [..., freq, frames] by the method ``options.method``.

    Raises
    ------
    SoundmorphError
        If the method or the initial phase needs a source's phase and none is given (a sound
        generated from the prior, or a glide, has no source).
    """
    if source_phase is None and needs_source_phase(options):
        raise SoundmorphError(
            f"phase method {options.method!r} with init {options.init!r} needs a source sound's phase; "
            "this render has no single source"
        )
    return PHASE_METHODS[options.method].reconstruct(
        mag, options, settings, length=length, source_phase=source_phase
    )
