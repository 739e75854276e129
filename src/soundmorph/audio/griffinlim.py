"""The Griffin-Lim engine in torch: audio whose STFT magnitude approximates a given one.

Pure functions, batched over leading dimensions, on whatever device the magnitudes live on:
:func:`griffin_lim` (with momentum: fast Griffin-Lim) and :func:`accelerated_griffin_lim`, both over
one lean frame-domain STFT/ISTFT pair (:class:`_FrameOps`), and :func:`initial_phase`. The phase
methods a render chooses by name are in :mod:`soundmorph.audio.phase`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from soundmorph.audio.spectral import EPS, hann_window
from soundmorph.config import GL_ITERATIONS, GL_MOMENTUM, HOP_LENGTH, N_FFT, WIN_LENGTH
from soundmorph.errors import SoundmorphError

ANGLE_INITS = ("random", "zeros", "advance")  # initial phases computed without a source
AGLA_ALPHA, AGLA_BETA, AGLA_GAMMA = 0.99, 1.1, 1.2  # accelerated GL (Nenov et al. 2023)


class PhaseOptionError(SoundmorphError, ValueError):
    """A bad phase-reconstruction option (also a ValueError, as the pure functions always raised)."""


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
            raise PhaseOptionError(
                f"initial phase has shape {tuple(init.shape)}, magnitude {tuple(mag.shape)}"
            )
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
    raise PhaseOptionError(f"unknown init {init!r}; use one of {ANGLE_INITS} or a tensor of angles")


class _FrameOps:
    """A lean STFT/ISTFT pair for the Griffin-Lim loop, on frames laid out [batch, frames, freq].

    Equivalent to :func:`stft` of :func:`istft` with ``length`` samples, but without re-padding:
    frames overlap-add into one buffer of ``n_fft + hop * (frames - 1)`` samples, one
    multiplication by a precomputed gain (the inverse window-sum envelope, zero outside the
    ``length`` samples the centred ISTFT keeps), and the next analysis frames are cut from that
    same buffer. Overlap-add and framing work on hop-sized blocks: a frame is ``ceil(n_fft / hop)``
    consecutive blocks, so both are a handful of shifted slices instead of ``fold``/``unfold``
    (which are slow on CPU and leave strided memory for the FFT).

    ``periodic``: the signal is a loop of ``length`` samples and frames wrap around its end (the
    STFT of ``spectral.stft(..., periodic=True)``). Overlap-add then folds the buffer onto the loop
    (sample ``p`` of the buffer is sample ``(p - n_fft // 2) mod length``), the gain is the inverse
    of the folded envelope, and the buffer the analysis cuts frames from is the loop unfolded again.
    """

    def __init__(
        self,
        *,
        n_fft: int,
        hop_length: int,
        win_length: int,
        frames: int,
        length: int,
        device: torch.device,
        periodic: bool = False,
    ) -> None:
        self.n_fft, self.hop, self.frames, self.length = n_fft, hop_length, frames, length
        self.periodic = periodic
        self._buffers: dict[str, torch.Tensor] = {}
        self.blocks = -(-n_fft // hop_length)  # hop-sized blocks per frame
        window = hann_window(win_length, device=device)
        left = (n_fft - win_length) // 2  # torch.stft centres a short window in the frame
        window = F.pad(window, (left, n_fft - win_length - left))  # [n_fft]
        self.window = F.pad(window, (0, self.blocks * hop_length - n_fft))  # [blocks * hop], zero tail
        self.size = hop_length * (frames + self.blocks - 1)  # >= n_fft + hop * (frames - 1)
        envelope = self._overlap_add(self.window.pow(2).expand(1, frames, -1))[0].clone()
        start = n_fft // 2
        if periodic:
            # buffer sample p is loop sample (p - n_fft // 2) mod length
            self.wrap = torch.remainder(torch.arange(self.size, device=device) - start, length)
            folded = torch.zeros(length, device=device).index_add_(0, self.wrap, envelope)
            self.gain = torch.where(folded > 1e-11, 1.0 / folded.clamp_min(1e-11), 0.0)
        else:
            keep = torch.zeros(self.size, device=device)
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
        buffer = self._overlap_add(frames.mul_(self.window))
        if not self.periodic:
            return buffer.mul_(self.gain)
        loop = buffer.new_zeros(buffer.shape[0], self.length).index_add_(1, self.wrap, buffer)
        return loop.mul_(self.gain)[:, self.wrap]

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
        if self.periodic:  # each loop sample from the buffer, wrapping back where it runs past
            positions = torch.arange(self.length, device=signal.device) + start
            return signal[:, torch.where(positions < self.size, positions, positions - self.length)]
        out = signal[:, start : start + self.length]
        return F.pad(out, (0, self.length - out.shape[-1]))


def _check(mag: torch.Tensor, n_fft: int, n_iter: int) -> None:
    if mag.shape[-2] != n_fft // 2 + 1:
        raise PhaseOptionError(f"magnitude has {mag.shape[-2]} bins, n_fft {n_fft} needs {n_fft // 2 + 1}")
    if n_iter < 0:
        raise PhaseOptionError(f"iterations must be >= 0, got {n_iter}")


def _setup(
    mag: torch.Tensor,
    init: str | torch.Tensor,
    *,
    n_fft: int,
    hop_length: int,
    win_length: int,
    length: int | None,
    periodic: bool,
    generator: torch.Generator | None,
) -> tuple[_FrameOps, torch.Tensor, torch.Tensor, int]:
    """The frame operators, the magnitudes [batch, frames, freq], the starting spectra and length."""
    mag = mag.float()
    n_freq, frames = mag.shape[-2:]
    phase = initial_phase(mag, init, hop_length=hop_length, n_fft=n_fft, generator=generator)
    length = length if length is not None else (frames - 1) * hop_length
    if length < 1:
        raise PhaseOptionError(f"output length must be >= 1 sample, got {length}")
    ops = _FrameOps(
        n_fft=n_fft,
        hop_length=hop_length,
        win_length=win_length,
        frames=frames,
        length=length,
        device=mag.device,
        periodic=periodic,
    )
    # [batch, frames, freq]: frames are rows, so rfft/irfft run on contiguous memory
    mag_t = mag.reshape(-1, n_freq, frames).transpose(1, 2).contiguous()
    spec = torch.polar(mag_t, phase.reshape(-1, n_freq, frames).transpose(1, 2).contiguous())
    return ops, mag_t, spec, length


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
    periodic: bool = False,
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
    periodic : bool
        The output is a loop of ``length`` samples and ``mag`` its circular STFT
        (``spectral.stft(..., periodic=True)``): frames wrap around the end.

    Returns
    -------
    torch.Tensor [shape=(..., length), float32]
    """
    if not 0.0 <= momentum < 1.0:
        raise PhaseOptionError(f"momentum must be in [0, 1), got {momentum}")
    _check(mag, n_fft, n_iter)
    ops, mag_t, spec, length = _setup(
        mag,
        init,
        n_fft=n_fft,
        hop_length=hop_length,
        win_length=win_length,
        length=length,
        periodic=periodic,
        generator=generator,
    )
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
    return audio.reshape(*mag.shape[:-2], length)


def accelerated_griffin_lim(
    mag: torch.Tensor,
    *,
    n_fft: int = N_FFT,
    hop_length: int = HOP_LENGTH,
    win_length: int = WIN_LENGTH,
    n_iter: int = GL_ITERATIONS,
    alpha: float = AGLA_ALPHA,
    beta: float = AGLA_BETA,
    gamma: float = AGLA_GAMMA,
    init: str | torch.Tensor = "random",
    generator: torch.Generator | None = None,
    length: int | None = None,
    periodic: bool = False,
) -> torch.Tensor:
    """Accelerated Griffin-Lim (Nenov, Peton and Perraudin, "Faster than fast", ICASSP 2023).

    With ``P_mag`` setting every coefficient's modulus to ``mag`` and ``P_stft`` the STFT of the
    ISTFT, each iteration is ``t = (1 - gamma) d + gamma P_stft(P_mag(c))``,
    ``c = t + alpha (t - t_prev)``, ``d = t + beta (t - t_prev)``; the audio is the ISTFT of
    ``P_mag(c)``. ``gamma = 1, beta = 0`` is fast Griffin-Lim. Shapes and the other options as in
    :func:`griffin_lim`.
    """
    _check(mag, n_fft, n_iter)
    ops, mag_t, spec, length = _setup(
        mag,
        init,
        n_fft=n_fft,
        hop_length=hop_length,
        win_length=win_length,
        length=length,
        periodic=periodic,
        generator=generator,
    )
    c = d = previous = spec
    for _ in range(n_iter):
        rebuilt = ops.analysis(ops.synthesis(mag_t * torch.sgn(c)))
        t = (1.0 - gamma) * d + gamma * rebuilt
        c = t + alpha * (t - previous)
        d = t + beta * (t - previous)
        previous = t
    audio = ops.audio(ops.synthesis(mag_t * torch.sgn(c))).clone()
    return audio.reshape(*mag.shape[:-2], length)
