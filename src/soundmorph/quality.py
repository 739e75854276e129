"""How good is a morph? Figures for a sweep between two sources, from their magnitudes.

A sweep is ``steps`` sounds ``x_0 .. x_{N-1}`` rendered at ratios ``a_0 = 0 .. a_{N-1} = 1`` between
sources ``A`` and ``B``. Every figure compares spectrograms through a perceptual distance ``d``:
the log-mel distance (RMS over mel bands of the dB difference, averaged over frames) or the MFCC
distance (Euclidean distance of MFCCs 1..13, averaged over frames). Nothing here needs librosa:
the mel filterbank is built in torch (Slaney's mel scale and area normalisation, as librosa's
default, which the tests check).

=====================  ==========================================================  ==========
figure                 meaning                                                     better
=====================  ==========================================================  ==========
``endpoint_distance``  ``(d(x_0, A) + d(x_{N-1}, B)) / 2``: do the ends sound like    lower
                       their sources? (correspondence)
``endpoint_relative``  the same divided by ``d(A, B)``: 0 exact, 1 as far as the     lower
                       sources are from each other
``intermediateness``   mean over steps of ``|d_A / (d_A + d_B) - a_k|``: is step k   lower
                       as far along from A to B as its ratio says?
``step_mean``          mean step distance ``d(x_k, x_{k+1})``                        (context)
``smoothness_cv``      coefficient of variation of the step distances: 0 when every  lower
                       step changes the sound equally
``max_step_ratio``     largest step over the mean step: 1 without jumps              lower
``rho_a``              Spearman rho of ``k`` with ``d(x_k, A)``: moves away from A    +1
``rho_b``              Spearman rho of ``k`` with ``d(x_k, B)``: moves towards B      -1
``centroid_r2``        R^2 of the spectral centroid (Hz) against ``a``: brightness   higher
                       changes linearly with the ratio
``centroid_error``     mean ``|c_k - ((1 - a_k) c_A + a_k c_B)|`` over ``|c_B - c_A|``: lower
                       how far the centroid strays from the straight source line
=====================  ==========================================================  ==========
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
import torch

from soundmorph.audio.spectral import EPS
from soundmorph.config import N_FFT, SAMPLE_RATE

N_MELS = 64  # mel bands of the log-mel distance
N_MFCC = 13  # MFCCs 1..13 (c0, the loudness, is left out)
POWER_FLOOR = 1e-4  # mel power below this counts as this (-40 dB re a magnitude of 1)

Distance = Literal["log_mel", "mfcc"]


def hz_to_mel(hz: torch.Tensor) -> torch.Tensor:
    """Slaney's mel scale: linear below 1 kHz, logarithmic above (librosa's default, ``htk=False``)."""
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    logstep = math.log(6.4) / 27.0
    linear = hz / f_sp
    return torch.where(hz >= min_log_hz, min_log_hz / f_sp + torch.log(hz / min_log_hz) / logstep, linear)


def mel_to_hz(mel: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`hz_to_mel`."""
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, math.log(6.4) / 27.0
    return torch.where(mel >= min_log_mel, min_log_hz * torch.exp(logstep * (mel - min_log_mel)), f_sp * mel)


def mel_filterbank(
    *, sample_rate: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS, fmin: float = 0.0
) -> torch.Tensor:
    """Triangular mel filters [n_mels, n_fft // 2 + 1], area-normalised (``librosa.filters.mel``)."""
    fft_hz = torch.linspace(0.0, sample_rate / 2, n_fft // 2 + 1, dtype=torch.float64)
    edges = mel_to_hz(
        torch.linspace(
            float(hz_to_mel(torch.tensor(fmin, dtype=torch.float64))),
            float(hz_to_mel(torch.tensor(sample_rate / 2, dtype=torch.float64))),
            n_mels + 2,
            dtype=torch.float64,
        )
    )
    widths = edges.diff()  # [n_mels + 1]
    ramps = edges[:, None] - fft_hz[None, :]  # [n_mels + 2, freq]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = torch.clamp(torch.minimum(lower, upper), min=0.0)
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return weights.float()


def log_mel(mag: torch.Tensor, filterbank: torch.Tensor) -> torch.Tensor:
    """Log-mel power in dB [..., n_mels, frames] of magnitudes [..., freq, frames]."""
    power = torch.matmul(filterbank.to(mag), mag.float().pow(2))
    return 10.0 * torch.log10(power.clamp_min(POWER_FLOOR))


def mfcc(log_mel_db: torch.Tensor, *, n_mfcc: int = N_MFCC) -> torch.Tensor:
    """MFCCs 1..n_mfcc [..., n_mfcc, frames] of log-mel dB [..., n_mels, frames] (orthonormal DCT-II)."""
    n_mels = log_mel_db.shape[-2]
    k = torch.arange(1, n_mfcc + 1, dtype=torch.float64)[:, None]
    m = torch.arange(n_mels, dtype=torch.float64)[None, :]
    dct = (torch.cos(math.pi / n_mels * (m + 0.5) * k) * math.sqrt(2.0 / n_mels)).to(log_mel_db)
    return torch.matmul(dct, log_mel_db)


def features(mag: torch.Tensor, filterbank: torch.Tensor, distance: Distance) -> torch.Tensor:
    """The representation ``distance`` compares: log-mel dB or MFCCs [..., bands, frames]."""
    if distance not in ("log_mel", "mfcc"):
        raise ValueError(f"unknown distance {distance!r}; use 'log_mel' or 'mfcc'")
    db = log_mel(mag, filterbank)
    return db if distance == "log_mel" else mfcc(db)


def feature_distance(x: torch.Tensor, y: torch.Tensor, distance: Distance) -> torch.Tensor:
    """Distance [...] between features [..., bands, frames]: per-frame RMS (log-mel, dB) or Euclidean
    (MFCC) over bands, averaged over frames."""
    diff = (x - y).pow(2)
    per_frame = diff.mean(dim=-2).sqrt() if distance == "log_mel" else diff.sum(dim=-2).sqrt()
    return per_frame.mean(dim=-1)


def spectral_centroid(mag: torch.Tensor, *, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
    """Magnitude-weighted mean frequency in Hz [...] of a whole clip's magnitudes [..., freq, frames]."""
    hz = torch.linspace(0.0, sample_rate / 2, mag.shape[-2], device=mag.device)
    per_bin = mag.float().sum(dim=-1)  # [..., freq]
    return (per_bin * hz).sum(-1) / per_bin.sum(-1).clamp_min(EPS)


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation (ties get their mean rank); nan when either input is constant."""
    rx, ry = _ranks(np.asarray(x, float)), _ranks(np.asarray(y, float))
    if rx.std() == 0 or ry.std() == 0:
        return math.nan
    return float(np.corrcoef(rx, ry)[0, 1])


def _ranks(values: np.ndarray) -> np.ndarray:
    order = values.argsort(kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(len(values), dtype=float)
    for value in np.unique(values):  # average ranks of ties
        tied = values == value
        ranks[tied] = ranks[tied].mean()
    return ranks


@dataclass(frozen=True)
class SweepQuality:
    """Morph-quality figures of one sweep (see the module docstring for meaning and direction)."""

    distance: str  # "log_mel" (dB) or "mfcc"
    endpoint_distance: float
    endpoint_relative: float
    intermediateness: float
    step_mean: float
    smoothness_cv: float
    max_step_ratio: float
    rho_a: float
    rho_b: float
    centroid_r2: float
    centroid_error: float

    def to_dict(self) -> dict[str, float | str]:
        return asdict(self)


def sweep_quality(
    sweep: torch.Tensor,
    source_a: torch.Tensor,
    source_b: torch.Tensor,
    alphas: torch.Tensor | None = None,
    *,
    distance: Distance = "log_mel",
    sample_rate: int = SAMPLE_RATE,
    n_mels: int = N_MELS,
) -> SweepQuality:
    """Morph-quality figures of a sweep of magnitudes.

    Parameters
    ----------
    sweep : torch.Tensor [shape=(steps, freq, frames), non-negative]
        Magnitudes of the sweep's sounds, from A (step 0) to B (last step); ``steps >= 2``.
    source_a, source_b : torch.Tensor [shape=(freq, frames), non-negative]
        Magnitudes of the two sources.
    alphas : torch.Tensor [shape=(steps,)], optional
        The ratio of each step; default evenly spaced from 0 to 1.
    distance : {"log_mel", "mfcc"}
        The distance ``d`` every figure is measured with.
    sample_rate : int
        Hz; the frequency axis is taken to span 0 .. sample_rate / 2 (``n_fft = 2 (freq - 1)``).

    Returns
    -------
    SweepQuality
    """
    steps = sweep.shape[0]
    if sweep.ndim != 3 or steps < 2:
        raise ValueError(f"a sweep is [steps >= 2, freq, frames], got shape {tuple(sweep.shape)}")
    if source_a.shape != sweep.shape[1:] or source_b.shape != sweep.shape[1:]:
        raise ValueError(
            f"sources {tuple(source_a.shape)}, {tuple(source_b.shape)} do not match the sweep's "
            f"{tuple(sweep.shape[1:])}"
        )
    a = torch.linspace(0.0, 1.0, steps) if alphas is None else alphas.detach().float().cpu()
    n_fft = 2 * (sweep.shape[-2] - 1)
    bank = mel_filterbank(sample_rate=sample_rate, n_fft=n_fft, n_mels=n_mels).to(sweep.device)
    feats = features(torch.cat([sweep, source_a[None], source_b[None]]), bank, distance).double()
    x, fa, fb = feats[:steps], feats[steps], feats[steps + 1]
    d_a = feature_distance(x, fa[None], distance).cpu().numpy()
    d_b = feature_distance(x, fb[None], distance).cpu().numpy()
    d_ab = float(feature_distance(fa, fb, distance))
    step = feature_distance(x[1:], x[:-1], distance).cpu().numpy()
    endpoint = (float(d_a[0]) + float(d_b[-1])) / 2
    position = d_a / np.maximum(d_a + d_b, EPS)
    step_mean = float(step.mean())
    centroids = spectral_centroid(torch.cat([sweep, source_a[None], source_b[None]]), sample_rate=sample_rate)
    c = centroids[:steps].double().cpu().numpy()
    c_a, c_b = float(centroids[steps]), float(centroids[steps + 1])
    a_np = a.double().numpy()
    line = (1 - a_np) * c_a + a_np * c_b
    fit = np.polyval(np.polyfit(a_np, c, 1), a_np)
    total = float(((c - c.mean()) ** 2).sum())
    k = np.arange(steps)
    return SweepQuality(
        distance=distance,
        endpoint_distance=endpoint,
        endpoint_relative=endpoint / d_ab if d_ab > 0 else math.nan,
        intermediateness=float(np.abs(position - a_np).mean()),
        step_mean=step_mean,
        smoothness_cv=float(step.std() / step_mean) if step_mean > 0 else math.nan,
        max_step_ratio=float(step.max() / step_mean) if step_mean > 0 else math.nan,
        rho_a=spearman(k, d_a),
        rho_b=spearman(k, d_b),
        centroid_r2=1.0 - float(((c - fit) ** 2).sum()) / total if total > 0 else math.nan,
        centroid_error=float(np.abs(c - line).mean()) / abs(c_b - c_a) if c_b != c_a else math.nan,
    )


def mean_quality(results: list[SweepQuality]) -> dict[str, float]:
    """Every numeric figure averaged over sweeps (nan-aware)."""
    keys = [key for key, value in results[0].to_dict().items() if not isinstance(value, str)]
    return {key: float(np.nanmean([float(getattr(r, key)) for r in results])) for key in keys}


# --- Figures of rendered audio (issue 18): judged as heard, against the source at its own tempo ---

HIT_RATE = 22_050  # Hz, the rate hit sharpness is measured at
HIT_FFT = 1024  # samples of its Hann window
HIT_HOP = 256  # samples between its frames
HIT_COMPRESSION = 100.0  # log(1 + C |STFT|)
HIT_PERCENTILE = 90.0  # a hit's onset strength is at or above this percentile of the envelope
HIT_SPAN = 2  # frames each side: a hit is a local maximum over ±2 frames, its attack spread over them
LSD_RANGE_DB = 80.0  # the audio LSD counts bins within this of the clip's peak


def hit_onsets(audio: np.ndarray) -> np.ndarray:
    """Onset envelope e(t) of mono audio at :data:`HIT_RATE`: the sum over bins of the positive
    frame-to-frame rise of ``log(1 + 100 |STFT|)`` (Hann 1024, hop 256), [frames - 1]."""
    x = torch.as_tensor(np.asarray(audio, dtype=np.float32))
    spec = torch.stft(
        x,
        n_fft=HIT_FFT,
        hop_length=HIT_HOP,
        window=torch.hann_window(HIT_FFT, periodic=True),
        center=True,
        return_complex=True,
    ).abs()
    log = torch.log1p(HIT_COMPRESSION * spec.double())
    return torch.diff(log, dim=-1).clamp_min(0.0).sum(dim=0).numpy()


def hit_sharpness(audio: np.ndarray) -> float:
    """How much of each hit's attack falls in one frame, in (0, 1] (issue 18's definition).

    At each peak of the onset envelope (:func:`hit_onsets`) that is at or above its 90th
    percentile and the largest within ±2 frames, the share ``e(peak) / sum of e over peak ± 2``;
    the mean over peaks. It does not depend on how many hits a clip has; a smeared attack, spread
    over neighbouring frames, lowers it. 0.0 for a clip without onsets.

    Parameters
    ----------
    audio : np.ndarray [shape=(n_samples,)]
        Mono, at :data:`HIT_RATE` (resample first: :func:`soundmorph.audio.io.resample`).
    """
    e = hit_onsets(audio)
    if len(e) == 0 or float(e.max()) <= 0.0:
        return 0.0
    padded = np.pad(e, HIT_SPAN)
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * HIT_SPAN + 1)  # [frames, 5]
    threshold = np.percentile(e, HIT_PERCENTILE)
    peaks = (e >= threshold) & (e > 0) & (e >= windows.max(axis=1))
    shares = e[peaks] / windows[peaks].sum(axis=1)
    return float(shares.mean()) if shares.size else 0.0


def best_lag(estimate: np.ndarray, reference: np.ndarray) -> int:
    """The circular shift (samples) of ``estimate`` [n] that best lines it up with ``reference`` [n]
    (the peak of their circular cross-correlation)."""
    spectrum = np.fft.rfft(reference) * np.conj(np.fft.rfft(estimate))
    return int(np.argmax(np.fft.irfft(spectrum, len(reference))))


def audio_lsd(
    estimate: np.ndarray,
    reference: np.ndarray,
    *,
    n_fft: int = 2 * HIT_FFT,
    hop_length: int = HIT_FFT // 2,
    range_db: float = LSD_RANGE_DB,
) -> float:
    """Log-spectral distance (dB) of audio against its reference, at the best circular lag.

    Both are floored at ``range_db`` below the reference's peak bin, so a noise floor added where
    the reference is silent counts; the distance is the RMS over the bins of each frame where
    either is above the floor, averaged over frames.

    Parameters
    ----------
    estimate, reference : np.ndarray [shape=(n_samples,) or (channels, n_samples)]
        At one rate; channels are compared one by one (a mono one is compared with each), the
        shorter is zero-padded to the longer.
    n_fft, hop_length : int
        STFT of the comparison (Hann).
    """
    est = np.atleast_2d(np.asarray(estimate, dtype=np.float64))
    ref = np.atleast_2d(np.asarray(reference, dtype=np.float64))
    n = max(est.shape[-1], ref.shape[-1])
    est = np.pad(est, ((0, 0), (0, n - est.shape[-1])))
    ref = np.pad(ref, ((0, 0), (0, n - ref.shape[-1])))
    est, ref = np.broadcast_arrays(est, ref)
    est = np.roll(est, best_lag(est.mean(axis=0), ref.mean(axis=0)), axis=-1)
    window = torch.hann_window(n_fft, periodic=True, dtype=torch.float64)

    def db(x: np.ndarray) -> torch.Tensor:
        spec = torch.stft(
            torch.from_numpy(np.ascontiguousarray(x)),
            n_fft=n_fft,
            hop_length=hop_length,
            window=window,
            center=True,
            return_complex=True,
        )
        return 20.0 * torch.log10(spec.abs() + 1e-12)

    out_db, ref_db = db(est), db(ref)
    floor = float(ref_db.max()) - range_db
    out_db, ref_db = out_db.clamp_min(floor), ref_db.clamp_min(floor)
    counted = (out_db > floor) | (ref_db > floor)  # [channels, freq, frames]
    squared = ((out_db - ref_db) ** 2 * counted).sum(dim=1)
    bins = counted.sum(dim=1)
    frames = bins > 0
    if not bool(frames.any()):
        return 0.0
    return float((squared[frames] / bins[frames]).sqrt().mean())


def band_energy_db(audio: np.ndarray, sample_rate: int, *, low_hz: float = SAMPLE_RATE / 2) -> float:
    """Share of a clip's energy above ``low_hz`` (default: the model's Nyquist, 11,025 Hz), in dB
    (-inf for none); audio [samples] or [channels, samples]."""
    x = np.atleast_2d(np.asarray(audio, dtype=np.float64))
    power = np.abs(np.fft.rfft(x, axis=-1)) ** 2
    freqs = np.fft.rfftfreq(x.shape[-1], 1.0 / sample_rate)
    total = float(power.sum())
    high = float(power[:, freqs >= low_hz].sum())
    return 10.0 * math.log10(high / total) if high > 0 and total > 0 else -math.inf


def side_mid_db(audio: np.ndarray) -> float:
    """Energy of the side (L - R) over the mid (L + R) of a stereo clip [2, samples], in dB
    (-inf for mono or identical channels)."""
    x = np.asarray(audio, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] != 2:
        return -math.inf
    side = float(((x[0] - x[1]) ** 2).sum())
    mid = float(((x[0] + x[1]) ** 2).sum())
    return 10.0 * math.log10(side / mid) if side > 0 and mid > 0 else -math.inf
