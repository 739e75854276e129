"""Procedural drum loops: a seeded drum machine for the demo and the test-suite (no downloads).

A seed picks a *kit* (the timbre of every voice: pitches, decays, tone, noise colour) and a
*pattern* (which 16th notes each voice plays, at what velocity, with what swing), so that loops of
different seeds differ in sound as well as in rhythm and a latent-space model has both to learn.

Every voice is rendered once per loop and placed at its steps scaled by velocity, like a sample-based
drum machine. Filters act in the frequency domain (scale the FFT of a whole voice by a Butterworth-like
magnitude response): a voice is a fraction of a second long, so this is loop-free, exact in magnitude
and needs no scipy. Tails that run past the end of the loop wrap round to its start, so a loop
repeats seamlessly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from soundmorph.config import SAMPLE_RATE
from soundmorph.errors import SoundmorphError
from soundmorph.limits import MAX_BPM

STYLES: tuple[str, ...] = ("techno", "trance", "house", "break")
_TOMS = ("low_tom", "mid_tom", "high_tom")
VOICES: tuple[str, ...] = ("kick", "snare", "clap", "closed_hat", "open_hat", *_TOMS)
BPM_RANGE = (120, 150)  # BPM, both ends included, for a tempo drawn from the seed
VARIED_BPM_RANGE = (80, 175)  # BPM, of varied_specs
VARIED_BARS = (1, 2, 4)  # lengths of varied_specs
PEAK = 0.9  # every loop is normalised to this peak
STEPS_PER_BAR = 16  # 16th-note grid in 4/4
FADE_SECONDS = 0.005  # fade-out at the end of every voice so a cut tail does not click
# Stream ids: each use of a seed draws from its own generator, so changing one (e.g. the pattern)
# never changes another (e.g. the kit).
_STYLE_STREAM, _KIT_STREAM, _PATTERN_STREAM, _NOISE_STREAM, _LIBRARY_STREAM, _VARIED_STREAM = range(6)
# Roland TR-808 cymbal oscillator frequencies (Hz): six detuned squares make the metallic hat.
_HAT_OSCILLATORS = np.array([205.3, 304.4, 369.6, 522.7, 540.0, 800.0])
_Band = tuple[float | None, float | None]  # Hz: high-pass and low-pass edges, None: open


@dataclass(frozen=True)
class LoopSpec:
    """One loop of a generated library."""

    name: str  # file stem, e.g. "loop_003_break_134bpm"
    seed: int
    style: str
    bpm: float  # BPM, an integer value
    bars: int = 2  # length in bars of 4/4


def drum_loop(
    *,
    seed: int,
    style: str | None = None,
    bpm: float | None = None,
    bars: int = 2,
    kit: int | None = None,
    sample_rate: int = SAMPLE_RATE,
) -> np.ndarray:
    """Synthesise a drum loop.

    Parameters
    ----------
    seed : int
        Chooses the kit, the pattern and, where not given, the style and tempo.
    style : str or None
        One of :data:`STYLES`; None: chosen from the seed.
    bpm : float or None
        Tempo in (0, 400] BPM; None: drawn from the seed in [120, 150].
    bars : int >= 1
        Length in bars of 4/4.
    kit : int or None
        Seed of the kit (the voices' sound) alone; None: ``seed``'s kit. The same ``kit`` with
        different ``seed`` s plays one drum machine in different patterns.
    sample_rate : int > 0
        Hz.

    Returns
    -------
    np.ndarray [shape=(round(bars * 4 * 60 / bpm * sample_rate),), dtype=float32]
        Mono audio with a peak of 0.9. The same arguments always give the same array.

    Raises
    ------
    SoundmorphError
        For an unknown style, a tempo outside (0, 400], fewer than one bar or a bad sample rate.
    """
    if style is not None and style not in STYLES:
        raise SoundmorphError(f"unknown drum style {style!r}; choose one of: {', '.join(STYLES)}")
    if bpm is not None and not 0 < bpm <= MAX_BPM:
        raise SoundmorphError(f"bpm must be in (0, {MAX_BPM:g}], got {bpm}")
    if int(bars) != bars or bars < 1:
        raise SoundmorphError(f"bars must be an integer >= 1, got {bars}")
    if int(sample_rate) != sample_rate or sample_rate <= 0:
        raise SoundmorphError(f"sample_rate must be a positive integer, got {sample_rate}")
    pick = _rng(seed, _STYLE_STREAM)
    style_index, drawn_bpm = int(pick.integers(len(STYLES))), float(pick.uniform(*BPM_RANGE))
    style = STYLES[style_index] if style is None else style
    bpm = drawn_bpm if bpm is None else float(bpm)

    n_samples = round(bars * 4 * 60 / bpm * sample_rate)
    pattern, swing = _pattern(style, int(bars), _rng(seed, _PATTERN_STREAM))
    step_samples = 60 / bpm / 4 * sample_rate  # one 16th note
    steps = np.arange(2 * STEPS_PER_BAR * bars)  # two passes of the loop, for a choke that wraps round
    onsets = np.round((steps + swing * (steps % 2)) * step_samples).astype(int)  # swing: late off 16ths
    hats = np.flatnonzero(pattern["closed_hat"] + pattern["open_hat"])
    hats = np.concatenate([hats, hats + STEPS_PER_BAR * bars])
    voices = _voices(seed if kit is None else kit, sample_rate=sample_rate)
    out = np.zeros(n_samples)
    for name, velocities in pattern.items():
        for step in np.flatnonzero(velocities):
            sound = voices[name]
            if name == "open_hat":  # the next hat chokes an open hat, as on a drum machine
                sound = _cut(sound, onsets[hats[hats > step][0]] - onsets[step], sample_rate)
            _add_wrapped(out, velocities[step] * sound, int(onsets[step]))
    peak = np.max(np.abs(out))
    if peak > 0:
        out *= PEAK / peak
    return out.astype(np.float32)


def one_shot(voice: str, *, seed: int, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """One hit of ``voice`` (one of :data:`VOICES`) from the kit of ``seed``, peak 0.9, float32
    [n_samples]: a decaying sound with one onset at sample 0, as a sample folder holds."""
    if voice not in VOICES:
        raise SoundmorphError(f"unknown voice {voice!r}; choose one of: {', '.join(VOICES)}")
    if int(sample_rate) != sample_rate or sample_rate <= 0:
        raise SoundmorphError(f"sample_rate must be a positive integer, got {sample_rate}")
    sound = _voices(seed, sample_rate=sample_rate)[voice]
    peak = np.max(np.abs(sound))
    return (sound * (PEAK / peak if peak > 0 else 1.0)).astype(np.float32)


def library_specs(count: int, *, seed: int = 0) -> list[LoopSpec]:
    """Specs of a library of ``count`` loops.

    Styles cycle through :data:`STYLES` (so every style is present once ``count >= 4``); tempi are
    integers drawn from ``seed`` in [120, 150]; loop seeds are distinct. Deterministic in
    ``(count, seed)``, and the first ``k`` specs do not depend on ``count``.
    """
    if count < 0:
        raise SoundmorphError(f"count must be >= 0, got {count}")
    rng = _rng(seed, _LIBRARY_STREAM)
    specs: list[LoopSpec] = []
    used: set[int] = set()
    for index in range(count):
        style = STYLES[index % len(STYLES)]
        bpm = int(rng.integers(BPM_RANGE[0], BPM_RANGE[1] + 1))
        loop_seed = int(rng.integers(2**31))
        while loop_seed in used:
            loop_seed = int(rng.integers(2**31))
        used.add(loop_seed)
        name = f"loop_{index:03d}_{style}_{bpm}bpm"
        specs.append(LoopSpec(name=name, seed=loop_seed, style=style, bpm=float(bpm)))
    return specs


def varied_specs(count: int, *, seed: int = 0) -> list[LoopSpec]:
    """Specs of a library with varied tempi (integers in :data:`VARIED_BPM_RANGE`), lengths
    (:data:`VARIED_BARS` bars) and kits, styles cycling; deterministic in ``(count, seed)``, and the
    first ``k`` specs do not depend on ``count``. For benchmarks and first tries."""
    if count < 0:
        raise SoundmorphError(f"count must be >= 0, got {count}")
    rng = _rng(seed, _VARIED_STREAM)
    specs = []
    for index in range(count):
        style = STYLES[index % len(STYLES)]
        bpm = int(rng.integers(VARIED_BPM_RANGE[0], VARIED_BPM_RANGE[1] + 1))
        bars = int(VARIED_BARS[int(rng.integers(len(VARIED_BARS)))])
        loop_seed = int(rng.integers(2**62))  # distinct with overwhelming probability
        name = f"loop_{index:05d}_{style}_{bpm}bpm_{bars}bar"
        specs.append(LoopSpec(name=name, seed=loop_seed, style=style, bpm=float(bpm), bars=bars))
    return specs


def render(spec: LoopSpec, *, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """The loop of ``spec``, as :func:`drum_loop` renders it."""
    return drum_loop(seed=spec.seed, style=spec.style, bpm=spec.bpm, bars=spec.bars, sample_rate=sample_rate)


def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([int(seed) % 2**64, stream])


# --- the kit ---------------------------------------------------------------------------------------


# The range of every kit parameter; a kit draws each uniformly. Times (tau) are exponential time
# constants in seconds, levels are gains relative to the kick, of voices normalised to peak 1.
_KIT_RANGES: dict[str, tuple[float, float]] = {
    "kick_end_hz": (38.0, 65.0),  # pitch the kick falls to
    "kick_sweep": (2.5, 5.0),  # attack pitch / end pitch
    "kick_pitch_tau": (0.012, 0.05),
    "kick_tau": (0.06, 0.15),
    "kick_click": (0.03, 0.2),  # level of the attack click
    "kick_drive": (1.0, 3.0),  # tanh saturation, 1: almost clean
    "snare_hz": (150.0, 270.0),  # body pitch
    "snare_body_tau": (0.03, 0.09),
    "snare_noise_tau": (0.05, 0.16),
    "snare_low_hz": (800.0, 2500.0),  # noise band
    "snare_high_hz": (5000.0, 10_000.0),
    "snare_noise_mix": (0.4, 0.85),  # 0: all body, 1: all noise
    "snare_level": (0.5, 0.8),
    "clap_hz": (900.0, 2200.0),  # band centre
    "clap_bursts": (3.0, 6.0),  # hands before the tail, rounded down
    "clap_spacing": (0.006, 0.014),  # seconds between bursts
    "clap_tau": (0.05, 0.18),
    "clap_level": (0.45, 0.7),
    "hat_scale": (0.8, 1.4),  # multiplies the 808 oscillator frequencies
    "hat_cutoff_hz": (6000.0, 8500.0),  # high-pass
    "hat_metal_mix": (0.0, 1.0),  # 0: all noise, 1: all square-wave cluster
    "closed_hat_tau": (0.008, 0.03),
    "open_hat_tau": (0.08, 0.25),
    "hat_level": (0.15, 0.3),
    "tom_hz": (75.0, 120.0),  # low tom; the mid and high toms are tom_ratio and tom_ratio**2 higher
    "tom_ratio": (1.3, 1.6),
    "tom_tau": (0.08, 0.2),
    "tom_level": (0.4, 0.6),
    "noise_tilt": (-0.6, 0.4),  # noise colour: spectral slope exponent, 0 white, < 0 darker
}
_LEVEL = {"closed_hat": "hat_level", "open_hat": "hat_level"} | dict.fromkeys(_TOMS, "tom_level")

_Kit = dict[str, float]  # kit parameter -> value


def _voices(seed: int, *, sample_rate: int) -> dict[str, np.ndarray]:
    """Every voice of the kit of ``seed``: name -> float64 audio [n_samples], scaled to its level."""
    draw = _rng(seed, _KIT_STREAM)
    kit = {name: float(draw.uniform(low, high)) for name, (low, high) in _KIT_RANGES.items()}
    noise = _rng(seed, _NOISE_STREAM)
    sounds = {
        "kick": _kick(kit, noise, sample_rate),
        "snare": _snare(kit, noise, sample_rate),
        "clap": _clap(kit, noise, sample_rate),
        "closed_hat": _hat(kit, noise, sample_rate, tau=kit["closed_hat_tau"]),
        "open_hat": _hat(kit, noise, sample_rate, tau=kit["open_hat_tau"]),
        **{
            name: _tom(kit, noise, sample_rate, hz=kit["tom_hz"] * kit["tom_ratio"] ** i)
            for i, name in enumerate(_TOMS)
        },
    }
    for name, sound in sounds.items():
        sound = _cut(sound, len(sound), sample_rate)
        sounds[name] = kit.get(_LEVEL.get(name, f"{name}_level"), 1.0) * sound / np.max(np.abs(sound))
    return sounds


def _cut(sound: np.ndarray, length: int, sample_rate: int) -> np.ndarray:
    """The first ``length`` samples of ``sound``, faded out over their last FADE_SECONDS."""
    sound = sound[:length]
    fade = max(FADE_SECONDS * sample_rate, 1.0)
    return sound * np.clip((length - np.arange(len(sound))) / fade, 0.0, 1.0)


def _kick(kit: _Kit, rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    t = _time(6 * kit["kick_tau"], sample_rate)
    sweep = 1 + (kit["kick_sweep"] - 1) * np.exp(-t / kit["kick_pitch_tau"])  # falls from kick_sweep to 1
    hz = kit["kick_end_hz"] * sweep
    body = np.sin(2 * np.pi * np.cumsum(hz) / sample_rate) * np.exp(-t / kit["kick_tau"])
    body = np.tanh(kit["kick_drive"] * body) / np.tanh(kit["kick_drive"])
    return body + kit["kick_click"] * _click(rng, len(t), sample_rate, band=(None, 2500.0), tau=0.002)


def _snare(kit: _Kit, rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    t = _time(6 * max(kit["snare_body_tau"], kit["snare_noise_tau"]), sample_rate)
    hz = kit["snare_hz"] * (1 + 0.3 * np.exp(-t / 0.01))  # a slight pitch drop on the attack
    phase = 2 * np.pi * np.cumsum(hz) / sample_rate
    body = (np.sin(phase) + 0.5 * np.sin(1.6 * phase)) * np.exp(-t / kit["snare_body_tau"])
    band = (kit["snare_low_hz"], kit["snare_high_hz"])
    noise = _noise(rng, len(t), sample_rate, band=band, tilt=kit["noise_tilt"])
    noise *= np.exp(-t / kit["snare_noise_tau"])
    return (1 - kit["snare_noise_mix"]) * body / 1.5 + kit["snare_noise_mix"] * 0.5 * noise


def _clap(kit: _Kit, rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    tail_start = int(kit["clap_bursts"]) * kit["clap_spacing"]
    t = _time(tail_start + 6 * kit["clap_tau"], sample_rate)
    bursts = np.exp(-(t % kit["clap_spacing"]) / 0.003)  # a few hands, slightly apart
    tail = 0.7 * np.exp(-(t - tail_start) / kit["clap_tau"])
    envelope = np.where(t < tail_start, bursts, tail)
    band = (kit["clap_hz"] / 1.6, kit["clap_hz"] * 1.6)
    return envelope * _noise(rng, len(t), sample_rate, band=band, tilt=kit["noise_tilt"])


def _hat(kit: _Kit, rng: np.random.Generator, sample_rate: int, *, tau: float) -> np.ndarray:
    t = _time(6 * tau, sample_rate)
    phases = np.outer(kit["hat_scale"] * _HAT_OSCILLATORS, 2 * np.pi * t)
    metal = _filter(np.sign(np.sin(phases)).sum(axis=0), sample_rate, band=(kit["hat_cutoff_hz"], None))
    metal /= np.sqrt(np.mean(metal**2)) + 1e-12
    noise = _noise(rng, len(t), sample_rate, band=(kit["hat_cutoff_hz"], None), tilt=kit["noise_tilt"])
    mix = kit["hat_metal_mix"] * metal + (1 - kit["hat_metal_mix"]) * noise
    return mix * np.exp(-t / tau)


def _tom(kit: _Kit, rng: np.random.Generator, sample_rate: int, *, hz: float) -> np.ndarray:
    t = _time(6 * kit["tom_tau"], sample_rate)
    pitch = hz * (1 + 0.5 * np.exp(-t / 0.03))  # skin settling after the hit
    body = np.sin(2 * np.pi * np.cumsum(pitch) / sample_rate)
    stick = _click(rng, len(t), sample_rate, band=(500.0, 5000.0), tau=0.004)
    return (body + 0.15 * stick) * np.exp(-t / kit["tom_tau"])


def _time(seconds: float, sample_rate: int) -> np.ndarray:
    return np.arange(max(round(seconds * sample_rate), 1)) / sample_rate


def _click(rng: np.random.Generator, n: int, sample_rate: int, *, band: _Band, tau: float) -> np.ndarray:
    """Band-passed noise [n] decaying with time constant ``tau`` s, zero after ``10 * tau``."""
    t = _time(min(10 * tau, n / sample_rate), sample_rate)
    click = _noise(rng, len(t), sample_rate, band=band, tilt=0.0) * np.exp(-t / tau)
    return np.pad(click, (0, n - len(t)))


def _noise(rng: np.random.Generator, n: int, sample_rate: int, *, band: _Band, tilt: float) -> np.ndarray:
    """Gaussian noise [n] with the spectrum of :func:`_filter`, scaled to unit RMS."""
    noise = _filter(rng.standard_normal(n), sample_rate, band=band, tilt=tilt)
    return noise / (np.sqrt(np.mean(noise**2)) + 1e-12)


def _filter(x: np.ndarray, sample_rate: int, *, band: _Band, tilt: float = 0.0, order: int = 2) -> np.ndarray:
    """Band-pass ``x`` [n] in the frequency domain.

    The gain is that of an ``order``-pole Butterworth high-pass at ``band[0]`` Hz times a low-pass
    at ``band[1]`` Hz (None: no such edge) times ``(f / 1 kHz) ** tilt``, with zero phase: meant for
    noise and tones that are enveloped afterwards, where ringing before an onset cannot show.
    """
    n_fft = 1 << (len(x) - 1).bit_length()  # a power of two: voice lengths can have large prime factors
    freqs = np.maximum(np.fft.rfftfreq(n_fft, 1 / sample_rate), 1.0)  # 1 Hz floor: no pole at DC
    gain = (freqs / 1000.0) ** tilt
    low, high = band
    if low is not None:
        gain /= np.sqrt(1 + (low / freqs) ** (2 * order))
    if high is not None:
        gain /= np.sqrt(1 + (freqs / high) ** (2 * order))
    return np.fft.irfft(np.fft.rfft(x, n_fft) * gain, n_fft)[: len(x)]


def _add_wrapped(out: np.ndarray, sound: np.ndarray, start: int) -> None:
    """Add ``sound`` to ``out`` from ``start`` on; what runs past the end continues at the start."""
    sound = sound[: len(out)]
    start %= len(out)
    head = min(len(sound), len(out) - start)
    out[start : start + head] += sound[:head]
    out[: len(sound) - head] += sound[head:]


# --- the pattern -----------------------------------------------------------------------------------

# One bar of 16ths per string: X accent, x normal, o ghost, . rest.
_VELOCITY = {"X": 1.0, "x": 0.75, "o": 0.4, ".": 0.0}
_FOUR_ON_THE_FLOOR = "X...X...X...X..."
_BACKBEAT = "....X.......X..."
_OFFBEATS = "..X...X...X...X."
_CLOSED_HATS = {
    "techno": ("xoxoxoxoxoxoxoxo", "..x...x...x...x.", "x.x.x.x.x.x.x.x.", "oxXxoxXxoxXxoxXx"),
    "trance": ("x.o.x.o.x.o.x.o.", "oxoooxoooxoooxoo", "xoxoxoxoxoxoxoxo"),
    "house": ("oxo.oxo.oxo.oxo.", "x.x.x.x.x.x.x.x.", "xoxoxoxoxoxoxoxo"),
    "break": ("x.x.x.x.x.x.x.x.", "xoxoxoxoxoxoxoxo", "x.xox.x.x.xox.x."),
}
_BREAK_KICKS = ("X.........X.....", "X.x.......X.....", "X......x..X.....", "X.....x...X..x..")
_FILLS = (  # last bar's toms: (low, mid, high)
    ("...............X", "..............x.", "............Xx.."),
    ("...............x", "..............x.", "............X..."),
    ("................", "..............xo", "............xo.."),
)
_SWING = {"house": 0.25, "break": 0.3}  # largest swing, in 16ths; other styles play straight


def _pattern(style: str, bars: int, rng: np.random.Generator) -> tuple[dict[str, np.ndarray], float]:
    """Velocities of every voice at every 16th [bars * 16] and the swing (16ths of delay)."""
    steps = STEPS_PER_BAR * bars
    hats = _CLOSED_HATS[style][int(rng.integers(len(_CLOSED_HATS[style])))]
    bar: dict[str, str] = {"closed_hat": hats}
    if style == "break":
        kicks = [_BREAK_KICKS[i] for i in rng.integers(len(_BREAK_KICKS), size=2)]
        bar["snare"] = _BACKBEAT
        if rng.random() < 0.3:
            bar["clap"] = _BACKBEAT
        if rng.random() < 0.5:
            bar["open_hat"] = "..............x."
    else:
        kicks = [_FOUR_ON_THE_FLOOR]
        bar["clap"] = _BACKBEAT
        if style in ("trance", "house") or rng.random() < 0.5:
            bar["open_hat"] = _OFFBEATS
        if style == "house" and rng.random() < 0.4:
            bar["snare"] = "...........o...."
    velocities = {name: np.zeros(steps) for name in VOICES}
    for index in range(bars):
        bar["kick"] = kicks[index % len(kicks)]
        for name, line in bar.items():
            velocities[name][index * STEPS_PER_BAR : (index + 1) * STEPS_PER_BAR] = _line(line)
    if bar.get("open_hat") == _OFFBEATS:  # an open hat replaces the closed one on its step
        velocities["closed_hat"][velocities["open_hat"] > 0] = 0.0

    # Ghost notes: quiet snares (break) or kicks (the others) on random empty 16ths.
    ghost = "snare" if style == "break" else "kick"
    empty = np.flatnonzero(velocities[ghost] == 0)
    chosen = empty[rng.random(len(empty)) < (0.12 if style == "break" else 0.04)]
    velocities[ghost][chosen] = rng.uniform(0.2, 0.45, size=len(chosen))
    if rng.random() < (0.6 if style == "break" else 0.3):  # a tom fill at the end of the loop
        last = slice(steps - STEPS_PER_BAR, steps)
        fill = _FILLS[int(rng.integers(len(_FILLS)))]
        for name, line in zip(_TOMS, fill, strict=True):
            velocities[name][last] = _line(line)
        if style != "break":
            velocities["closed_hat"][steps - 4 :] = 0.0  # the fill takes over the last beat
    for voice in velocities.values():  # humanise: every hit a little softer or louder
        hits = voice > 0
        voice[hits] *= rng.uniform(0.85, 1.05, size=int(hits.sum()))
    swing = float(rng.uniform(0.0, _SWING[style])) if style in _SWING and rng.random() < 0.7 else 0.0
    return velocities, swing


def _line(bar: str) -> np.ndarray:
    return np.array([_VELOCITY[c] for c in bar])


# --- files as they come ----------------------------------------------------------------------------

TAIL_KINDS: tuple[str, ...] = ("ring", "reverb", "silence")


def untrimmed(
    loop: np.ndarray,
    *,
    lead_in: float,
    tail: float,
    kind: str = "ring",
    seed: int = 0,
    sample_rate: int = SAMPLE_RATE,
) -> np.ndarray:
    """A loop as a bounce leaves it: ``lead_in`` seconds of silence before it and ``tail`` seconds
    after its last bar line.

    Parameters
    ----------
    loop : np.ndarray [shape=(n_samples,)]
        One period of a loop (e.g. :func:`drum_loop`).
    kind : {"ring", "reverb", "silence"}
        ``ring``: the loop plays on and fades out (its first hit ringing out past the bar line);
        ``reverb``: the loop through a decaying-noise reverb ``tail`` s long whose ring-out runs past
        the end (a wet bounce; the loop's start lacks the reverb of its end); ``silence``: zeros.
    seed : int
        The reverb's noise.

    Returns
    -------
    np.ndarray [shape=(lead + n_samples + tail samples,), float32]
    """
    if kind not in TAIL_KINDS:
        raise SoundmorphError(f"unknown tail {kind!r}; choose one of: {', '.join(TAIL_KINDS)}")
    if lead_in < 0 or tail < 0:
        raise SoundmorphError(f"lead-in and tail must be >= 0 s, got {lead_in} and {tail}")
    loop = np.asarray(loop, dtype=np.float64)
    lead, ring = np.zeros(round(lead_in * sample_rate)), round(tail * sample_rate)
    if kind == "reverb" and ring > 0:
        decay = np.exp(-np.arange(ring) / (ring / 5))  # -43 dB at its end
        response = np.random.default_rng(seed).standard_normal(ring) * decay
        response *= 0.5 / np.linalg.norm(response)
        response[0] += 1.0  # the dry sound
        wet = np.convolve(loop, response)
        out = np.concatenate([lead, wet]) * (PEAK / max(float(np.abs(wet).max()), 1e-12))
        return out.astype(np.float32)
    after = np.take(loop, np.arange(ring), mode="wrap") * np.linspace(1.0, 0.0, ring) ** 2
    if kind == "silence":
        after = np.zeros(ring)
    return np.concatenate([lead, loop, after]).astype(np.float32)
