"""The sounds the page can name: the model's library by index (``"3"``) and the uploads by id
(``"u1"``), never by a path, so nothing outside the model's library can be read; and the library
originals' WAVs, read once."""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from soundmorph import api
from soundmorph.api import SoundModel, SoundmorphError, SourceSound
from soundmorph.limits import MAX_UPLOADS
from soundmorph.web.requests import RequestError

log = logging.getLogger("soundmorph.web")

MAX_ORIGINALS = 32  # cached WAVs of library originals
SOUND_ID = re.compile(r"(?:0|[1-9]\d{0,8}|u[1-9]\d{0,8})")


@dataclass
class Upload:
    """A sound dropped on the page (not part of the model): its id, file name and source record
    (its audio as uploaded, at the model's rate, and its latent)."""

    id: str
    name: str  # the uploaded file's name, without folders
    source: SourceSound


class PageSounds:
    """The library of ``model`` and the uploads every browser sees (the oldest dropped past
    :data:`MAX_UPLOADS`); safe across threads."""

    def __init__(self, model: SoundModel) -> None:
        self.model = model
        self.uploads: OrderedDict[str, Upload] = OrderedDict()
        self._originals: OrderedDict[str, bytes] = OrderedDict()
        self._next_upload = 1
        self._lock = threading.Lock()  # the dictionaries above

    def check_id(self, sound_id: str) -> str:
        """``sound_id`` if it has the form of a library index or an upload id, else a 400."""
        if not isinstance(sound_id, str) or not SOUND_ID.fullmatch(sound_id):
            raise RequestError(
                f"{str(sound_id)[:40]!r} is not a sound id: use a library index "
                f"(0..{len(self.model.names) - 1}) or an upload id (u1, u2, ...)"
            )
        return sound_id

    def source(self, sound_id: str) -> SourceSound:
        """The source record of a library index or an upload id (an unknown index raises
        :class:`soundmorph.api.UnknownSourceError`, which the server answers with a 404)."""
        sound_id = self.check_id(sound_id)
        if sound_id.startswith("u"):
            with self._lock:
                upload = self.uploads.get(sound_id)
            if upload is None:
                raise RequestError(
                    f"no upload {sound_id} on this server (uploads are kept in memory only)", 404
                )
            return upload.source
        return self.model.resolve(int(sound_id))

    def library(self) -> list[dict[str, Any]]:
        """Every library sound and upload: id, name, split, map position, kind, tempo and bars."""
        sounds = [
            {"id": str(i), "index": i, "name": name, "split": split, "x": float(x), "y": float(y)}
            | tempo_fields(found)
            for i, (name, split, (x, y), found) in enumerate(
                zip(
                    self.model.names,
                    self.model.splits,
                    self.model.latent_map.points,
                    self.model.tempos,
                    strict=True,
                )
            )
        ]
        with self._lock:
            uploads = list(self.uploads.values())
        return sounds + [self.describe_upload(u) for u in uploads]

    def describe_upload(self, upload: Upload) -> dict[str, Any]:
        x, y = self.model.latent_map.project(upload.source.latent)
        seconds = round(len(upload.source.clip) / self.model.sample_rate, 3)
        return {
            "id": upload.id,
            "index": None,
            "name": upload.name,
            "split": "upload",
            "x": x,
            "y": y,
            "seconds": seconds,
        } | tempo_fields(upload.source.tempo)

    def original_wav(self, sound_id: str) -> tuple[bytes, str]:
        """(WAV bytes, file name) of a library sound as read from the library, or of an upload."""
        source = self.source(sound_id)
        with self._lock:
            cached = self._originals.get(sound_id)
        if cached is None:
            try:
                clip = self.model.original(source).clip
            except SoundmorphError as error:
                raise RequestError(f"original of {source.label} cannot be read: {error}", 404) from None
            cached = api.to_wav_bytes(clip, sample_rate=self.model.sample_rate)
            if source.index is not None:  # uploads are in memory already
                with self._lock:
                    self._originals[sound_id] = cached
                    while len(self._originals) > MAX_ORIGINALS:
                        self._originals.popitem(last=False)
        return cached, f"{source.label}.wav"

    def add(self, name: str, source: SourceSound) -> Upload:
        """Keep an encoded upload under the next id, dropping the oldest past :data:`MAX_UPLOADS`."""
        with self._lock:
            upload = Upload(f"u{self._next_upload}", name, source)
            self._next_upload += 1
            self.uploads[upload.id] = upload
            while len(self.uploads) > MAX_UPLOADS:
                dropped, _ = self.uploads.popitem(last=False)
                log.info("dropped upload %s (at most %d are kept)", dropped, MAX_UPLOADS)
        return upload


def tempo_fields(found: Any) -> dict[str, Any]:
    """A sound's kind, tempo and bars for the page (nulls for a model without a grid)."""
    if found is None:
        return {"kind": None, "bpm": None, "bars": None}
    bpm = None if found.bpm is None else round(float(found.bpm), 2)
    return {"kind": found.kind, "bpm": bpm, "bars": found.bars}
