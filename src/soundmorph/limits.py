"""Every bound a user can reach, and the checks of user-given numbers against them.

One upper bound on every size a user controls, checked before anything is allocated; the CLI, the
API, the page (through the server) and the settings read them from here. This module is the ground
floor beside :mod:`soundmorph.errors`: it imports nothing else of the package.
"""

from __future__ import annotations

import math
import numbers

from soundmorph.errors import SoundmorphError

# --- Audio in.
MIN_CLIP_SECONDS = 0.5  # s, shortest clip length a model can be trained on
MAX_CLIP_SECONDS = 30.0  # s, clip length of a model (30 s: about 175 MB of weights for either preset)
MAX_READ_SECONDS = 600.0  # s, most audio decoded from one file; a longer file is read up to here
READ_MARGIN_SECONDS = 0.25  # s, read beyond the clip length so resampling has clean samples at the end
MIN_FILE_RATE = 1_000  # Hz, lowest sample rate a file's header may declare
MAX_FILE_RATE = 768_000  # Hz, highest sample rate a file's header may declare
MAX_CHANNELS = 64  # channels a file's header may declare
MAX_UPLOAD_SAMPLES = (
    120 * 48_000 * 2
)  # decoded samples (frames x channels) of one upload: 2 min 48-kHz stereo
MAX_UPLOAD_BYTES = 20 * 1024 * 1024  # bytes of a file uploaded to the page
MAX_UPLOAD_SECONDS = 30.0  # s, of a sound uploaded to the page
MAX_UPLOADS = 16  # uploads the page's server keeps; the oldest is dropped first

# --- Tempo.
MIN_BPM = 30.0  # slowest tempo a loop, a grid or a user may give
MAX_BPM = 400.0  # fastest

# --- Renders.
MAX_STEPS = 100  # sounds in one sweep
MAX_COUNT = 100  # sounds in one generate
MAX_REPEATS = 64  # clip repetitions in one glide
MAX_RENDER_SECONDS = 600.0  # s, audio one sweep, generate or glide renders (steps x clip length)
MAX_ITERATIONS = 10_000  # Griffin-Lim iterations per render

# --- Training.
MAX_EPOCHS = 100_000  # training epochs
MAX_BATCH_SIZE = 4_096  # clips per training step
MAX_DEMO_CLIPS = 1_000  # drum loops the demo synthesizes
MAX_SYNTH_COUNT = 1_000_000  # loops one `soundmorph synth` call may write
MAX_SEED = 2**63 - 1  # seeds are integers in [0, MAX_SEED] (what torch.Generator takes)
# magnitudes kept for a whole run (train and held-out sets each), computed once instead of every
# epoch: 1 GiB holds ~1,700 clips of 2 bars at 140 BPM; a larger library streams audio as before
MAGNITUDE_BUDGET_BYTES = 1 << 30


def check_int(name: str, value: object, *, low: int, high: int) -> int:
    """``value`` if it is an integer (not a bool) in [low, high], else a one-line error naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise SoundmorphError(f"{name} must be a whole number, got {value!r}")
    number = int(value)
    if not low <= number <= high:
        # str() of an int over 4,300 digits raises ValueError: show its size instead
        digits = int(number.bit_length() * 0.30103) + 1
        shown = f"{number}" if abs(number) < 10**30 else f"a {digits}-digit number"
        raise SoundmorphError(f"{name} must be in [{low}, {high:,}], got {shown}")
    return number


def check_real(name: str, value: object) -> float:
    """``value`` as a float if it is a finite real number (not a bool), else a one-line error."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise SoundmorphError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(float(value)):
        raise SoundmorphError(f"{name} must be finite, got {value}")
    return float(value)


def check_seed(seed: object) -> int:
    """``seed`` if it is an integer in [0, :data:`MAX_SEED`]."""
    return check_int("seed", seed, low=0, high=MAX_SEED)


def check_bpm(bpm: object, what: str = "bpm") -> float:
    """``bpm`` as a float if it is a finite number in [:data:`MIN_BPM`, :data:`MAX_BPM`]."""
    try:
        value = float(bpm)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise SoundmorphError(f"{what} must be a number, got {bpm!r}") from None
    if not MIN_BPM <= value <= MAX_BPM:  # NaN fails this too
        raise SoundmorphError(f"{what} must be in [{MIN_BPM:g}, {MAX_BPM:g}], got {bpm}")
    return value


def check_bars(bars: object, what: str = "bars") -> int:
    """``bars`` as an int if it is a whole number >= 1."""
    value = float(bars) if isinstance(bars, numbers.Real) and not isinstance(bars, bool) else math.nan
    if not (math.isfinite(value) and value == int(value) and value >= 1):
        raise SoundmorphError(f"{what} must be a whole number >= 1, got {bars}")
    return int(value)
