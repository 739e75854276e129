"""Phase reconstruction: the phase methods a render chooses by name, from a magnitude back to audio.

:data:`PHASE_METHODS` is the registry the renderer chooses from by name
(:attr:`soundmorph.config.RenderOptions.method`): a new method is one function of a
:class:`PhaseJob` and one entry (its name also in :data:`soundmorph.config.PhaseMethodName`). The
iterations are :mod:`soundmorph.audio.griffinlim`'s, the PGHI start :mod:`soundmorph.audio.pghi`'s.
``periodic`` treats the clip as a loop: frames wrap around its end, so the seam from the last sample
to the first is reconstructed like any other stretch of the clip.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from soundmorph.audio.griffinlim import (
    ANGLE_INITS,
    PhaseOptionError,
    _check,
    accelerated_griffin_lim,
    griffin_lim,
    initial_phase,
)
from soundmorph.audio.pghi import pghi_phase
from soundmorph.config import AudioConfig, PhaseMethodName, RenderOptions, check_registry
from soundmorph.errors import SoundmorphError

# the engine's names, read here by callers that render (phase.griffin_lim, phase.initial_phase, ...)
__all__ = [
    "ANGLE_INITS",
    "PHASE_METHODS",
    "PhaseJob",
    "PhaseMethod",
    "PhaseOptionError",
    "accelerated_griffin_lim",
    "blend_phase",
    "circular_magnitude",
    "griffin_lim",
    "initial_phase",
    "needs_source_phase",
    "reconstruct",
]


def circular_magnitude(mag: torch.Tensor) -> torch.Tensor:
    """Estimate of a loop's circular STFT magnitude from its centred one [..., freq, frames].

    The centred STFT pads the loop with zeros, so its first frame holds only the loop's first
    samples and its last frame only the last ones; the circular STFT's frames there hold both. Both
    edge frames become the power sum ``sqrt(first**2 + last**2)`` (exact up to the cross term when
    the loop is a whole number of hops). The next frames inwards (while ``frame * hop < n_fft / 2``)
    miss only the part of the loop under their window's quiet tail and are kept.
    """
    if mag.shape[-1] < 2:
        return mag
    edge = torch.sqrt(mag[..., :1].pow(2) + mag[..., -1:].pow(2))
    return torch.cat([edge, mag[..., 1:-1], edge], dim=-1)


def blend_phase(specs: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Angles of the weighted complex sum of sources' STFTs: the ``source`` method's start.

    Parameters
    ----------
    specs : torch.Tensor [shape=(sources, ..., freq, frames), complex]
    weights : torch.Tensor [shape=(sources,)]
        E.g. ``(1 - alpha, alpha)`` for a morph: each bin takes the phase of the louder weighted
        source, and a mix of both where they are alike.
    """
    if specs.shape[0] != weights.shape[0]:
        raise PhaseOptionError(f"{specs.shape[0]} source spectra but {weights.shape[0]} weights")
    w = weights.to(device=specs.device, dtype=specs.real.dtype).reshape(-1, *([1] * (specs.dim() - 1)))
    return (w * specs).sum(0).angle()


# -- the registry ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class PhaseJob:
    """One reconstruction a phase method is asked for: magnitudes [..., freq, frames] (a loop's
    circular STFT with ``options.periodic``, :func:`reconstruct` makes them so) -> audio [..., length].

    ``options`` carries the method's settings (iterations, momentum, initial phase, seed, periodic),
    ``settings`` the STFT geometry and rate; ``source_phase`` [..., freq, frames] (radians) is the
    phase of the sources' originals when the caller has one (see :func:`needs_source_phase`).
    """

    mag: torch.Tensor
    options: RenderOptions
    settings: AudioConfig
    length: int
    source_phase: torch.Tensor | None = None

    def generator(self) -> torch.Generator:
        """The seeded generator of a random start (``options.seed``), on the magnitudes' device."""
        return torch.Generator(device=self.mag.device).manual_seed(self.options.seed)

    def start(self) -> str | torch.Tensor:
        """The initial phase ``options.init`` names: a name, or the source's phase for ``source``."""
        if self.options.init != "source":
            return self.options.init
        assert self.source_phase is not None, "reconstruct() checks that a source phase is given"
        return self.source_phase

    def griffin_lim(self, init: str | torch.Tensor, momentum: float) -> torch.Tensor:
        """``options.n_iter`` iterations of :func:`griffin_lim` from ``init`` with ``momentum``."""
        s = self.settings
        return griffin_lim(
            self.mag,
            n_fft=s.n_fft,
            hop_length=s.hop_length,
            win_length=s.win_length,
            n_iter=self.options.n_iter,
            momentum=momentum,
            init=init,
            generator=self.generator(),
            length=self.length,
            periodic=self.options.periodic,
        )


@dataclass(frozen=True)
class PhaseMethod:
    """A registry entry: the method (a function of a :class:`PhaseJob`), one line for help texts,
    and whether it always needs the source's phase."""

    method: Callable[[PhaseJob], torch.Tensor]
    summary: str
    needs_source: bool = False

    def reconstruct(
        self,
        mag: torch.Tensor,
        options: RenderOptions,
        settings: AudioConfig,
        *,
        length: int,
        source_phase: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Audio [..., length] of ``mag`` by this method alone (see :func:`reconstruct`)."""
        return self.method(PhaseJob(mag, options, settings, length, source_phase))


def gl(job: PhaseJob) -> torch.Tensor:
    """Griffin-Lim as published (Griffin and Lim 1984; ``options.momentum`` is not used)."""
    return job.griffin_lim(job.start(), momentum=0.0)


def fgla(job: PhaseJob) -> torch.Tensor:
    """Fast Griffin-Lim (Perraudin, Balazs and Søndergaard 2013): Griffin-Lim with
    ``options.momentum`` (librosa's update; the reference's method)."""
    return job.griffin_lim(job.start(), momentum=job.options.momentum)


def pghi(job: PhaseJob) -> torch.Tensor:
    """Phase-gradient heap integration (:mod:`soundmorph.audio.pghi`) as the start, then
    ``options.n_iter`` iterations of fast Griffin-Lim (``options.init`` is not used)."""
    s = job.settings
    start = pghi_phase(
        job.mag.float(),
        n_fft=s.n_fft,
        hop_length=s.hop_length,
        win_length=s.win_length,
        generator=job.generator(),
    )
    return job.griffin_lim(start, momentum=job.options.momentum)


def source(job: PhaseJob) -> torch.Tensor:
    """The sources' own phase as the start (for a morph, :func:`blend_phase` of both sources' STFTs
    at the morph's weights), then ``options.n_iter`` iterations of fast Griffin-Lim."""
    assert job.source_phase is not None, "reconstruct() checks that a source phase is given"
    return job.griffin_lim(job.source_phase, momentum=job.options.momentum)


def agla(job: PhaseJob) -> torch.Tensor:
    """Accelerated Griffin-Lim (:func:`accelerated_griffin_lim` with its published alpha, beta,
    gamma; ``options.momentum`` is not used)."""
    s = job.settings
    return accelerated_griffin_lim(
        job.mag,
        n_fft=s.n_fft,
        hop_length=s.hop_length,
        win_length=s.win_length,
        n_iter=job.options.n_iter,
        init=job.start(),
        generator=job.generator(),
        length=job.length,
        periodic=job.options.periodic,
    )


PHASE_METHODS: dict[str, PhaseMethod] = {
    "gl": PhaseMethod(gl, "Griffin-Lim without momentum"),
    "fgla": PhaseMethod(fgla, "fast Griffin-Lim: Griffin-Lim with momentum (the reference's)"),
    "pghi": PhaseMethod(pghi, "phase-gradient heap integration, then fast Griffin-Lim"),
    "source": PhaseMethod(
        source, "the sources' own phases blended as the start, then fast Griffin-Lim", needs_source=True
    ),
    "agla": PhaseMethod(agla, "accelerated Griffin-Lim (Nenov, Peton and Perraudin 2023)"),
}
check_registry(PHASE_METHODS, PhaseMethodName, "phase method")


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

    ``mag`` is a centred STFT magnitude, as the models produce. With ``options.periodic`` the
    audio is a loop of ``length`` samples: the edge frames become :func:`circular_magnitude`'s
    estimate and the frames wrap around.

    Raises
    ------
    SoundmorphError
        If the method or the initial phase needs a source's phase and none is given (a sound
        generated from the prior, or a glide, has no source), or the magnitude does not fit
        ``settings``.
    """
    if source_phase is None and needs_source_phase(options):
        raise SoundmorphError(
            f"phase method {options.method!r} with init {options.init!r} needs a source sound's phase; "
            "this render has no single source"
        )
    _check(mag, settings.n_fft, options.n_iter)
    if options.periodic:
        mag = circular_magnitude(mag)
    return PHASE_METHODS[options.method].reconstruct(
        mag, options, settings, length=length, source_phase=source_phase
    )
