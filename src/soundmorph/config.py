"""Settings: frozen dataclasses for audio, model, training and rendering, and the presets.

Every setting lives here once, with its unit; everything else is derived from it. A model folder
stores these dataclasses as JSON (see :mod:`soundmorph.training.checkpoint`), so a model always renders with
the settings it was trained with.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar, get_args

from soundmorph.errors import SoundmorphError
from soundmorph.limits import (
    MAX_BATCH_SIZE,
    MAX_CLIP_SECONDS,
    MAX_EPOCHS,
    MAX_ITERATIONS,
    MIN_CLIP_SECONDS,
    check_bars,
    check_bpm,
    check_int,
    check_real,
    check_seed,
)

SAMPLE_RATE = 22_050  # Hz, every clip is resampled to this
N_FFT = 2048  # samples per STFT frame
WIN_LENGTH = 2048  # samples, Hann window
HOP_LENGTH = 512  # samples between frames
PAPER_CLIP_SAMPLES = 75_600  # 2 bars at 140 BPM = 8 beats * 60 / 140 s * 22,050 Hz -> 148 frames
GL_ITERATIONS = 32  # Griffin-Lim iterations of the reference
GL_MOMENTUM = 0.99  # fast Griffin-Lim; librosa.griffinlim's default, which the reference used

Covariance = Literal["full", "diagonal"]
PhaseInit = Literal["random", "zeros", "advance", "source"]
PHASE_INITS: tuple[str, ...] = get_args(PhaseInit)
RenderChain = Literal["studio", "model"]
RENDER_CHAINS: tuple[str, ...] = get_args(RenderChain)
LatentKind = Literal["global", "sequence"]
GridMode = Literal["off", "auto", "loop", "oneshot"]
GridStretch = Literal["wsola", "resample"]
# Registry names. config knows only the names; each registry (soundmorph.models.vae's ENCODERS,
# DECODERS and INPUT_SCALES, soundmorph.audio.phase's PHASE_METHODS) checks at import that its keys
# are exactly these (check_registry), so a new method is one entry there plus its name here.
EncoderName = Literal["conv", "linear"]
DecoderName = Literal["conv", "linear", "hybrid"]
InputScaleName = Literal["linear", "log", "power"]
PhaseMethodName = Literal["gl", "fgla", "pghi", "source", "agla"]


def n_frames(n_samples: int, hop_length: int = HOP_LENGTH) -> int:
    """Number of frames of a centred STFT of ``n_samples`` samples."""
    return 1 + n_samples // hop_length


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise SoundmorphError(message)


def _unknown(what: str, value: object, registry: Iterable[str]) -> str:
    return f"unknown {what} {value!r}; choose one of: {', '.join(registry)}"


def names_of(kind: Any) -> tuple[str, ...]:
    """The names a ``Literal`` type of this module allows, in order."""
    return tuple(get_args(kind))


def check_registry(registry: Iterable[str], kind: Any, what: str) -> None:
    """Raise at import when a registry's keys are not exactly the names config allows for it."""
    keys, names = list(registry), names_of(kind)
    if sorted(keys) != sorted(names):
        raise RuntimeError(f"the {what} registry has {keys}, config allows {list(names)}: keep them in step")


@dataclass(frozen=True)
class AudioConfig:
    """How audio becomes a spectrogram and back."""

    sample_rate: int = SAMPLE_RATE  # Hz
    n_fft: int = N_FFT  # samples
    win_length: int = WIN_LENGTH  # samples (Hann)
    hop_length: int = HOP_LENGTH  # samples
    clip_seconds: float | None = None  # every clip is cropped or zero-padded to this; None: library median

    def __post_init__(self) -> None:
        _check(self.sample_rate > 0, f"sample_rate must be positive, got {self.sample_rate}")
        _check(self.n_fft > 0 and self.hop_length > 0, "n_fft and hop_length must be positive")
        _check(0 < self.win_length <= self.n_fft, f"win_length must be in (0, n_fft], got {self.win_length}")
        if self.clip_seconds is not None:
            seconds = check_real("clip length", self.clip_seconds)
            _check(
                MIN_CLIP_SECONDS <= seconds <= MAX_CLIP_SECONDS,
                f"clip length must be in [{MIN_CLIP_SECONDS}, {MAX_CLIP_SECONDS:g}] s, got {seconds:g} s",
            )

    @property
    def n_freq(self) -> int:
        """Frequency bins of the one-sided spectrum."""
        return self.n_fft // 2 + 1

    @property
    def clip_samples(self) -> int:
        """Samples per clip; only defined once the clip length is known."""
        _check(self.clip_seconds is not None, "the clip length is not set yet")
        assert self.clip_seconds is not None
        return round(self.clip_seconds * self.sample_rate)

    @property
    def clip_frames(self) -> int:
        """STFT frames per clip."""
        return n_frames(self.clip_samples, self.hop_length)


@dataclass(frozen=True)
class ModelConfig:
    """The CNN-VAE. The defaults are the reference (``paper``) architecture."""

    latent_dim: int = 16  # size of z
    channels: int = 256  # width of every hidden layer
    last_stride: int = 4  # second time stride; the first is ceil(frames / last_stride) (37 for 148)
    covariance: Covariance = "full"  # posterior: full (lower-triangular scale) or diagonal
    # what the network sees (a key of soundmorph.models.INPUT_SCALES): linear |D|,
    # log: log(1 + |D| / floor), power: |D| ** power
    input_scale: InputScaleName = "linear"
    log_floor: float = 1e-3  # magnitude at which log scaling turns from linear to logarithmic
    power: float = 0.5  # exponent of the "power" scale: compresses loud bins less than a log does
    normalize: bool = False  # standardise each frequency bin with training-set statistics
    dropout: float = 0.0  # dropout on the hidden layers (training only)
    # a key of soundmorph.models.DECODERS: conv: the reference's decoder; linear: one affine map
    # z -> every (bin, frame), i.e. a probabilistic-PCA decoder in the network's scale; hybrid: the
    # sum of both (conv as a residual)
    decoder: DecoderName = "conv"
    # a key of soundmorph.models.ENCODERS: conv: the reference's encoder; linear: one affine map of
    # the whole spectrogram to the posterior, started at the training set's PCA projection (see
    # SpectrogramVAE.init_from_data)
    encoder: EncoderName = "conv"
    # global: one latent vector per clip (the reference); sequence: a latent_dim vector per step of
    # step_frames frames plus global_dim numbers per clip (soundmorph.models.sequence); the
    # sequence family ignores encoder, decoder, covariance, last_stride and dropout
    latent: LatentKind = "global"
    step_frames: int = 1  # frames per latent step (sequence)
    global_dim: int = 8  # numbers per clip besides the steps (sequence)
    temporal_layers: int = 2  # residual temporal convolutions in encoder and decoder (sequence)
    kernel: int = 3  # steps each temporal convolution sees (odd)
    augment_shift: bool = False  # training: circular shifts by whole steps (sequence)
    augment_mix: float = 0.0  # training: probability of mixing a clip with another (sequence)
    # training: a random smooth EQ per clip (sequence), peak +-this many dB: another kit's colour
    augment_eq_db: float = 0.0
    # training: every clip's frequency axis scaled by a random factor in [1 - this, 1 + this]
    # (sequence): another kit's tuning
    augment_stretch: float = 0.0
    # numbers of a clip's colour (sequence): its long-term spectrum, smoothed to this many cosines
    # over log frequency, is divided out before the network and multiplied back after it, and the
    # numbers lead the latent (0: none); another drum machine's or record's colour is then exact
    colour_terms: int = 0
    # weight of a log-magnitude term added to the loss (sequence): the mean squared difference of
    # ln max(|D|, log_floor), which values quiet bins as the log-spectral distance does
    log_weight: float = 0.0

    def __post_init__(self) -> None:
        _check(self.latent_dim >= 1, f"latent_dim must be >= 1, got {self.latent_dim}")
        _check(self.channels >= 1, f"channels must be >= 1, got {self.channels}")
        _check(self.last_stride >= 1, f"last_stride must be >= 1, got {self.last_stride}")
        _check(self.covariance in ("full", "diagonal"), f"unknown covariance {self.covariance!r}")
        scales = names_of(InputScaleName)
        _check(self.input_scale in scales, _unknown("input_scale", self.input_scale, scales))
        _check(0.0 < self.power <= 1.0, f"power must be in (0, 1], got {self.power}")
        _check(self.log_floor > 0, f"log_floor must be positive, got {self.log_floor}")
        _check(0.0 <= self.dropout < 1.0, f"dropout must be in [0, 1), got {self.dropout}")
        decoders, encoders = names_of(DecoderName), names_of(EncoderName)
        _check(self.decoder in decoders, _unknown("decoder", self.decoder, decoders))
        _check(self.encoder in encoders, _unknown("encoder", self.encoder, encoders))
        _check(self.latent in ("global", "sequence"), f"unknown latent {self.latent!r}")
        _check(self.step_frames >= 1, f"step_frames must be >= 1, got {self.step_frames}")
        _check(self.global_dim >= 0, f"global_dim must be >= 0, got {self.global_dim}")
        _check(self.temporal_layers >= 0, f"temporal_layers must be >= 0, got {self.temporal_layers}")
        _check(self.kernel >= 1 and self.kernel % 2 == 1, f"kernel must be odd and >= 1, got {self.kernel}")
        _check(0.0 <= self.augment_mix <= 1.0, f"augment_mix must be in [0, 1], got {self.augment_mix}")
        _check(self.log_weight >= 0.0, f"log_weight must be >= 0, got {self.log_weight}")
        _check(self.augment_eq_db >= 0.0, f"augment_eq_db must be >= 0, got {self.augment_eq_db}")
        stretch = self.augment_stretch
        _check(0.0 <= stretch < 1.0, f"augment_stretch must be in [0, 1), got {stretch}")
        _check(self.colour_terms >= 0, f"colour_terms must be >= 0, got {self.colour_terms}")


@dataclass(frozen=True)
class TrainConfig:
    """How a model is trained. The defaults are the reference's."""

    epochs: int = 500
    batch_size: int = 16
    learning_rate: float = 1e-3  # Adam
    weight_decay: float = 0.0  # AdamW-style decoupled decay; 0 is plain Adam
    kl_weight: float = 1e-3  # weight of KL(q(z|x) || N(0, I)) in the loss
    kl_warmup_epochs: int = 0  # KL weight ramps linearly from 0 over this many epochs
    holdout: float = 0.0  # fraction of the library kept out of training (seeded, stable per file)
    augment_gain_db: float = 0.0  # random gain of +-this many dB per clip and step; 0: none
    seed: int = 0

    def __post_init__(self) -> None:
        check_int("epochs", self.epochs, low=0, high=MAX_EPOCHS)
        check_int("batch size", self.batch_size, low=1, high=MAX_BATCH_SIZE)
        check_seed(self.seed)
        _check(
            check_real("learning rate", self.learning_rate) > 0,
            f"learning rate must be positive, got {self.learning_rate}",
        )
        _check(
            check_real("weight decay", self.weight_decay) >= 0,
            f"weight decay must be >= 0, got {self.weight_decay}",
        )
        _check(check_real("KL weight", self.kl_weight) >= 0, f"KL weight must be >= 0, got {self.kl_weight}")
        check_int("kl_warmup_epochs", self.kl_warmup_epochs, low=0, high=MAX_EPOCHS)
        _check(
            0.0 <= check_real("holdout", self.holdout) < 1.0, f"holdout must be in [0, 1), got {self.holdout}"
        )
        _check(check_real("augment_gain_db", self.augment_gain_db) >= 0, "augment_gain_db must be >= 0")


@dataclass(frozen=True)
class RenderOptions:
    """How decoded magnitudes become audio: the phase method and its settings.

    A preset stores the model's own (``Preset.phase``); a render may override them with
    :meth:`override`. Every default and check of a render setting is here.
    """

    method: PhaseMethodName = "fgla"  # a key of soundmorph.audio.phase.PHASE_METHODS
    n_iter: int = GL_ITERATIONS  # iterations of an iterative method
    momentum: float = GL_MOMENTUM  # of "fgla"; "gl" is the same update without momentum
    # initial phase: random (from ``seed``), zeros, advance (each bin at its centre frequency) or
    # source (the phase of the nearer source's original, re-read from its file)
    init: PhaseInit = "random"
    seed: int = 0  # of the random initial phase (and of a sampled latent)
    # the clip is a loop: frames wrap around its end, so the seam is as clean as the inside
    periodic: bool = False
    # the ends are the sources: what the model misses of each source (its log residual) is carried
    # into the morph at the source's weight (soundmorph.detail); False renders the raw model
    faithful: bool = True
    # studio: the sources, at their own rate and channels, stretched and mixed, shaped by the model's
    # magnitude (soundmorph.studio); model: the magnitude alone, phase rebuilt at 22.05 kHz mono
    chain: RenderChain = "studio"
    rate: int | None = None  # Hz of a studio render; None: the highest of its sources' (up to 48 kHz)

    def __post_init__(self) -> None:
        methods = names_of(PhaseMethodName)
        _check(self.method in methods, _unknown("phase method", self.method, methods))
        check_int("phase iterations", self.n_iter, low=0, high=MAX_ITERATIONS)
        momentum = check_real("phase momentum", self.momentum)
        _check(0.0 <= momentum < 1.0, f"phase momentum must be in [0, 1), got {self.momentum}")
        check_seed(self.seed)
        _check(self.chain in RENDER_CHAINS, _unknown("render chain", self.chain, RENDER_CHAINS))
        if self.rate is not None:
            check_int("render rate", self.rate, low=8_000, high=192_000)
        _check(
            self.init in PHASE_INITS,
            f"unknown phase init {self.init!r}; choose one of: {', '.join(PHASE_INITS)}",
        )

    def override(
        self,
        *,
        method: str | None = None,  # checked against PhaseMethodName on creation
        n_iter: int | None = None,
        momentum: float | None = None,
        init: PhaseInit | None = None,
        seed: int | None = None,
        periodic: bool | None = None,
        faithful: bool | None = None,
        chain: RenderChain | None = None,
        rate: int | None = None,
    ) -> RenderOptions:
        """A copy with the settings that are not None changed (and checked)."""
        given: dict[str, Any] = {
            "method": method,
            "n_iter": n_iter,
            "momentum": momentum,
            "init": init,
            "seed": seed,
            "periodic": periodic,
            "faithful": faithful,
            "chain": chain,
            "rate": rate,
        }
        changes = {key: value for key, value in given.items() if value is not None}
        return dataclasses.replace(self, **changes) if changes else self


@dataclass(frozen=True)
class TempoConfig:
    """The beat grid: how sounds of different tempo are put on one time axis.

    ``off``: every clip is cropped or zero-padded to one length (the reference). ``auto``: resolved at
    training by the library's majority: ``loop`` if most usable sounds are loops, else ``oneshot``.
    ``loop``: every loop is stretched to ``bars`` bars at ``bpm`` (one-shots in it are aligned on
    their onset); a model renders whole bars at any tempo. ``oneshot``: every sound is aligned on
    its onset, then cropped or padded (loops in it start on their first beat, unstretched).
    """

    mode: GridMode = "off"
    bpm: float | None = None  # grid tempo; None: the median tempo of the library's loops
    bars: int | None = None  # grid length; None: the library's most common bar count
    stretch: GridStretch = "wsola"  # how a loop is stretched to the grid (python -m bench tempo)

    def __post_init__(self) -> None:
        _check(self.mode in ("off", "auto", "loop", "oneshot"), f"unknown grid mode {self.mode!r}")
        if self.bpm is not None:
            check_bpm(self.bpm, "grid bpm")
        if self.bars is not None:
            check_bars(self.bars, "grid bars")
        _check(self.stretch in ("wsola", "resample"), f"unknown grid stretch {self.stretch!r}")


@dataclass(frozen=True)
class Preset:
    """A named, complete set of settings."""

    name: str
    audio: AudioConfig = field(default_factory=AudioConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    phase: RenderOptions = field(default_factory=RenderOptions)
    tempo: TempoConfig = field(default_factory=TempoConfig)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary of every setting."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Preset:
        """Inverse of :meth:`to_dict`; unknown keys are an error, missing keys take defaults."""
        try:
            return cls(
                name=str(data["name"]),
                audio=_from_dict(AudioConfig, data.get("audio", {})),
                model=_from_dict(ModelConfig, data.get("model", {})),
                train=_from_dict(TrainConfig, data.get("train", {})),
                phase=_from_dict(RenderOptions, data.get("phase", {})),
                tempo=_from_dict(TempoConfig, data.get("tempo", {})),
            )
        except (KeyError, TypeError) as error:
            raise SoundmorphError(f"invalid settings: {error}") from None

    def replace(self, **sections: Any) -> Preset:
        """Copy with some fields of some sections changed: ``replace(train={"epochs": 5})``."""
        changes = {
            key: dataclasses.replace(getattr(self, key), **value) if isinstance(value, dict) else value
            for key, value in sections.items()
        }
        return dataclasses.replace(self, **changes)


_T = TypeVar("_T")


def _from_dict(cls: type[_T], data: dict[str, Any]) -> _T:
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = set(data) - names
    if unknown:
        raise SoundmorphError(f"unknown {cls.__name__} setting(s): {', '.join(sorted(unknown))}")
    return cls(**data)


def paper() -> Preset:
    """The reference system, faithfully: linear magnitudes, MSE, 148 frames, GL 32."""
    return Preset(name="paper", audio=AudioConfig(clip_seconds=PAPER_CLIP_SAMPLES / SAMPLE_RATE))


def linear() -> Preset:
    """The default until the sequence model (kept for comparison): a global 16-dim linear VAE on
    ``|D| ** 0.6`` that starts at the training set's PCA and trains for 0 epochs, on the beat grid;
    renders with PGHI and 24 fast Griffin-Lim iterations. Why: bench/README.md, "The presets"."""
    return Preset(
        name="linear",
        model=ModelConfig(input_scale="power", power=0.6, encoder="linear", decoder="linear"),
        train=TrainConfig(epochs=0, learning_rate=1e-5, kl_weight=1e-3),
        phase=RenderOptions(method="pghi", n_iter=24),  # chosen by ``python -m bench phase``
        tempo=TempoConfig(mode="auto"),
    )


def sequence() -> Preset:
    """A latent that keeps time (:mod:`soundmorph.models.sequence`): 16 numbers of the clip's colour,
    8 more per clip and 12 per STFT frame, on ``|D| ** 0.45``, started at the per-frame PCA and
    refined by a small non-linear residual (128 channels, two temporal convolutions), trained with
    shifts by whole frames and mixes of two clips, on the MSE in ``|D| ** 0.45`` plus 0.05 x the MSE
    of ``ln max(|D|, 1e-3)``. Why each choice (and what was tried and dropped): bench/README.md,
    "The presets"."""
    return Preset(
        name="sequence",
        model=ModelConfig(
            latent="sequence",
            latent_dim=12,
            global_dim=8,
            channels=128,
            input_scale="power",
            power=0.45,
            covariance="diagonal",
            augment_shift=True,
            augment_mix=0.5,
            colour_terms=16,
            log_weight=0.05,
        ),
        train=TrainConfig(epochs=80, learning_rate=1e-3, kl_weight=1e-5),
        phase=linear().phase,
        tempo=TempoConfig(mode="auto"),  # loops on a beat grid, one-shots on their onset
    )


def default() -> Preset:
    """soundmorph's default: the :func:`sequence` preset, chosen on held-out sounds by
    ``python -m bench model`` (bench/README.md, "The presets")."""
    return dataclasses.replace(sequence(), name="default")


PRESETS = {"paper": paper, "default": default, "sequence": sequence, "linear": linear}


def get_preset(name: str) -> Preset:
    """The preset called ``name`` (one of :data:`PRESETS`)."""
    if name not in PRESETS:
        raise SoundmorphError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}")
    return PRESETS[name]()


def clip_seconds_from_lengths(lengths: list[int], sample_rate: int) -> float:
    """The library's median clip length in seconds, within [MIN_CLIP_SECONDS, MAX_CLIP_SECONDS]."""
    _check(len(lengths) > 0, "no clips to take a median length from")
    ordered = sorted(lengths)
    median = ordered[(len(ordered) - 1) // 2]  # lower median: an actual clip's length
    return min(max(median / sample_rate, MIN_CLIP_SECONDS), MAX_CLIP_SECONDS)


def time_strides(frames: int, last_stride: int) -> tuple[int, int]:
    """Strides of the two time convolutions for a clip of ``frames`` frames.

    The reference hard-codes (37, 4) for 148 frames. For any frame count the model pads the
    frames up to ``first * last_stride`` with ``first = ceil(frames / last_stride)``; 148 gives
    exactly (37, 4) and no padding.
    """
    return math.ceil(frames / last_stride), last_stride
