"""A library of sounds: a folder's headers in a stable index, a held-out split; each sound's kind
and tempo with per-file corrections, and a clip put on a beat grid."""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import json
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from soundmorph import audio
from soundmorph.audio import riff
from soundmorph.audio import tempo as tempo_analysis
from soundmorph.audio.io import AudioInfo, Skipped
from soundmorph.audio.tempo import Grid, Tempo
from soundmorph.config import TempoConfig
from soundmorph.errors import AudioError, SoundmorphError
from soundmorph.limits import MAX_CLIP_SECONDS, READ_MARGIN_SECONDS


def fit_to_grid(
    clip: np.ndarray, found: Tempo, config: TempoConfig, n_samples: int, *, sample_rate: int
) -> np.ndarray:
    """One clip [samples] on the grid of a resolved ``config`` as [n_samples] float32.

    ``loop``: a loop stretched to the grid, a one-shot aligned on its onset; ``oneshot``: every
    clip aligned on its onset (a loop's first beat), cropped or padded; ``off``: crop/pad.
    """
    if config.mode == "off":
        return audio.fit_length(clip, n_samples)
    if config.mode == "loop" and found.kind == "loop":
        assert config.bpm is not None and config.bars is not None
        grid = Grid(config.bpm, config.bars)
        stretched = tempo_analysis.to_grid(clip, found, grid, method=config.stretch, sample_rate=sample_rate)
        return audio.fit_length(stretched, n_samples)
    return tempo_analysis.onset_aligned(clip, found, n_samples, sample_rate=sample_rate)


def resolve_grid(config: TempoConfig, tempos: list[Tempo]) -> TempoConfig:
    """``config`` with its mode, tempo and bars decided from the library's ``tempos``.

    ``auto`` becomes ``loop`` when at least half of the sounds are loops, else ``oneshot``. A loop
    grid without a tempo takes the loops' median tempo (to 0.01 BPM); without bars, their most
    common bar count (the smaller on a tie).
    """
    mode = config.mode
    loops = [found for found in tempos if found.kind == "loop"]
    if mode == "auto":
        mode = "loop" if tempos and 2 * len(loops) >= len(tempos) else "oneshot"
    if mode != "loop":
        return dataclasses.replace(config, mode=mode)
    if not loops and (config.bpm is None or config.bars is None):
        raise SoundmorphError("a loop grid needs --bpm and --bars when the library has no loops")
    bpm = config.bpm if config.bpm is not None else round(statistics.median(f.bpm or 0.0 for f in loops), 2)
    if config.bars is not None:
        bars = config.bars
    else:
        counts = collections.Counter(f.bars for f in loops)
        bars = min(b for b, c in counts.items() if c == max(counts.values()) and b is not None)
    return dataclasses.replace(config, mode="loop", bpm=float(bpm), bars=int(bars))


def _same(bpm: Any, found: float | None) -> bool:
    """True when a listed ``bpm`` (rounded to 0.01) is the ``found`` one."""
    try:
        return found is not None and abs(float(bpm) - found) < 0.006
    except (TypeError, ValueError):
        return False


def _heard(found: Tempo) -> str:
    """What the hits say, for a warning: "97.3 BPM" or "a one-shot"."""
    return f"{found.bpm:.1f} BPM" if found.kind == "loop" and found.bpm is not None else "a one-shot"


def override_tempo(found: Tempo, override: dict[str, Any], *, seconds: float, name: str = "") -> Tempo:
    """``found`` with a user's ``{"kind", "bpm", "bars"}`` applied.

    A tempo alone sets the bars to the whole number that fits the loop's length (the clip's duration
    less its lead-in and tail), bars alone set the tempo from that length; either makes the sound a
    loop unless ``kind`` says otherwise. An override that restates what was found changes nothing
    (an unedited ``list --json`` keeps each tempo's source).
    """
    if not override:
        return found
    listed = {"name", "index", "seconds", "sample_rate", "channels", "source", "confidence", "start", "tail"}
    bad = set(override) - {"kind", "bpm", "bars", "warnings"} - listed
    if bad:
        raise SoundmorphError(f"{name}: unknown tempo override key(s): {', '.join(sorted(bad))}")
    kind = override.get("kind") or found.kind
    bpm, bars = override.get("bpm"), override.get("bars")
    if kind == found.kind and (bpm is None or _same(bpm, found.bpm)) and (bars is None or bars == found.bars):
        return found
    if found.kind == "loop" and found.seconds is not None:
        seconds = found.seconds
    if kind == "oneshot":
        downbeat = found.downbeat if found.kind == "oneshot" else 0.0
        return Tempo("oneshot", None, None, downbeat, 1.0, source="user")
    try:
        if bpm is not None and bars is None:
            bars = max(1, round(seconds * float(bpm) / 240))
        elif bars is not None and bpm is None:
            bpm = int(bars) * 240 / seconds
        elif bpm is None and bars is None:
            bpm, bars = found.bpm, found.bars
            if bpm is None:  # a one-shot declared a loop: one bar over its duration
                bars, bpm = 1, 240 / seconds
        value = float(bpm), int(bars)  # type: ignore[arg-type]
        if found.kind == "loop":  # the loop stays where the hits put it
            return Tempo("loop", *value, found.downbeat, 1.0, found.start, found.tail, "user")
        return Tempo("loop", *value, 0.0, 1.0, source="user")
    except (TypeError, ValueError, SoundmorphError) as error:
        raise SoundmorphError(f"{name}: bad tempo override {override} ({error})") from None


def apply_overrides(
    names: Sequence[str],
    found: Sequence[Tempo],
    seconds: Sequence[float],
    overrides: dict[str, dict[str, Any]] | None,
    *,
    root: Path,
) -> list[Tempo]:
    """``found`` (the tempo of each clip ``names`` of ``seconds``) with the per-file ``overrides``
    of :func:`read_tempo_file` applied (see :func:`override_tempo`)."""
    overrides = _known_overrides(overrides, names, root)
    return [
        override_tempo(tempo, overrides.get(name, {}), seconds=length, name=name)
        for name, tempo, length in zip(names, found, seconds, strict=True)
    ]


def _known_overrides(
    overrides: dict[str, dict[str, Any]] | None, names: Sequence[str], root: Path
) -> dict[str, dict[str, Any]]:
    """``overrides`` (or none), refused when one names a file that is not among ``names``."""
    overrides = overrides or {}
    unknown = sorted(set(overrides) - set(names))
    if unknown:
        raise SoundmorphError(f"tempo override for a file not in {root}: {unknown[0]}")
    return overrides


def read_tempo_file(path: str | Path) -> dict[str, dict[str, Any]]:
    """Per-file tempo overrides from a JSON file the user edits.

    Either ``{"NAME": {"bpm": 128, "bars": 2}, "HIT.wav": {"kind": "oneshot"}, ...}`` or the output
    of ``soundmorph list FOLDER --json`` (its ``"sounds"`` entries, edited), keyed by the file name
    relative to the library folder. Entries whose values equal the analysis change nothing.
    """
    path = Path(path)
    try:
        content = json.loads(path.read_text())
    except FileNotFoundError:
        raise SoundmorphError(f"{path}: no such tempo file") from None
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as error:
        raise SoundmorphError(f"{path}: not a JSON tempo file ({error})") from None
    if isinstance(content, dict) and isinstance(content.get("sounds"), list):
        entries = {str(entry.get("name")): entry for entry in content["sounds"] if isinstance(entry, dict)}
    elif isinstance(content, dict) and all(isinstance(v, dict) for v in content.values()):
        entries = {str(name): entry for name, entry in content.items()}
    else:
        expected = "expected {name: {bpm, bars, kind}} or a 'list --json' output"
        raise SoundmorphError(f"{path}: not a tempo file: {expected}")
    out: dict[str, dict[str, Any]] = {}
    for name, entry in entries.items():
        keep = {k: entry[k] for k in ("kind", "bpm", "bars") if k in entry}
        if keep.get("kind") not in (None, "loop", "oneshot"):
            raise SoundmorphError(f"{path}: {name}: kind must be 'loop' or 'oneshot', got {keep['kind']!r}")
        out[name] = keep
    return out


def describe(
    folder: str | Path, *, sample_rate: int, overrides: dict[str, dict[str, Any]] | None = None
) -> dict[str, list[dict[str, Any]]]:
    """What ``soundmorph list --json`` prints: every usable sound of ``folder`` with its file's rate
    and channels, kind, tempo and bars (the per-file ``overrides`` applied), where the tempo came
    from (``source``: audio, name, acid, smpl or user) and its ``confidence``, where the loop starts
    and what is done with its tail, ``warnings`` where the file's name or chunks state a tempo its
    hits contradict; and every skipped file with its reason.

    One file is decoded and analysed at a time, so memory does not grow with the folder.
    """
    root = Path(folder)
    found, skipped = audio.walk_audio(root)
    names = [_relative(path, root) for path in found]
    overrides = _known_overrides(overrides, names, root)
    sounds: list[dict[str, Any]] = []
    for path, name in zip(found, names, strict=True):
        try:
            header = audio.info(path)
            clip = audio.read(
                path, sample_rate=sample_rate, max_seconds=MAX_CLIP_SECONDS + READ_MARGIN_SECONDS
            )
        except AudioError as error:
            skipped.append(Skipped.from_error(path, error))
            continue
        seconds = len(clip) / sample_rate
        chunks = riff.read_loop_chunks(path)
        cut = header.duration > seconds + READ_MARGIN_SECONDS  # the start of a longer file
        found_tempo = tempo_analysis.analyse(clip, sample_rate=sample_rate, name=name, chunks=chunks, cut=cut)
        tempo = override_tempo(found_tempo, overrides.get(name, {}), seconds=seconds, name=name)
        sounds.append(
            {
                "index": len(sounds),
                "name": name,
                "seconds": round(seconds, 4),
                "sample_rate": header.sample_rate,
                "channels": header.channels,
                "kind": tempo.kind,
                "bpm": None if tempo.bpm is None else round(tempo.bpm, 2),
                "bars": tempo.bars,
                "source": tempo.source,
                "confidence": round(tempo.confidence, 3),
                "start": round(tempo.start, 4),
                "tail": tempo.tail,
                "warnings": [
                    f"{said}; the hits say {_heard(found_tempo)}"
                    for said in tempo_analysis.disputes(found_tempo, name=name, chunks=chunks)
                ],
            }
        )
    return {
        "sounds": sounds,
        "skipped": [{"name": _relative(s.path, root), "reason": s.reason} for s in skipped],
    }


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


@dataclass
class Listing:
    """What the headers of a folder's audio files say, in index order, without decoding them.

    A file whose header cannot be read is in ``skipped``; one that reads but cannot be used (e.g.
    silent) is only found by decoding it (:func:`soundmorph.data.open_cache`).
    """

    root: Path
    infos: list[AudioInfo] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.infos)

    @property
    def names(self) -> list[str]:
        """File names relative to the root, as POSIX paths: the library's stable keys."""
        return [info.path.relative_to(self.root).as_posix() for info in self.infos]


def list_headers(folder: str | Path) -> Listing:
    """The header of every audio file under ``folder`` (index order, as the cache's)."""
    root = Path(folder)
    listing = Listing(root=root)
    found, listing.skipped = audio.walk_audio(root)  # a broken link or a folder named x.wav: reported
    for path in found:
        try:
            listing.infos.append(audio.info(path))
        except AudioError as error:
            listing.skipped.append(Skipped.from_error(path, error))
    return listing


class _Clips(Protocol):
    root: Path

    def __len__(self) -> int: ...

    @property
    def skipped(self) -> list[Skipped]: ...


def require_clips(library: _Clips, *, minimum: int = 1) -> None:
    """Raise a one-line error when ``library`` has fewer than ``minimum`` usable clips."""
    if len(library) >= minimum:
        return
    found = f"{len(library)} usable sound(s)"
    if library.skipped:
        first = library.skipped[0]
        found += f", {len(library.skipped)} skipped (first: {first.path.name}: {first.reason})"
    raise SoundmorphError(f"{library.root}: {found}; need at least {minimum}")


def holdout_mask(names: list[str], fraction: float, *, seed: int) -> np.ndarray:
    """Which clips are held out: boolean [clips], ``round(fraction * clips)`` of them.

    Each name is ranked by a hash of ``(seed, name)``; the lowest ranks are held out. The split
    depends only on the names and the seed, so it is the same on every machine and barely moves
    when files are added.
    """
    count = round(fraction * len(names))
    if fraction > 0 and len(names) > 1:
        count = min(max(count, 1), len(names) - 1)  # a holdout asked for always has a clip to train on
    ranks = sorted(range(len(names)), key=lambda i: hashlib.sha1(f"{seed}:{names[i]}".encode()).hexdigest())
    mask = np.zeros(len(names), dtype=bool)
    mask[ranks[:count]] = True
    return mask
