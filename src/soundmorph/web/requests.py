"""What a page request may ask for: the error the server answers with, a tempo field checked, and the
cache key of a render request."""

from __future__ import annotations

import hashlib

from soundmorph import api
from soundmorph.api import SoundmorphError

ALPHA_DECIMALS = 3  # ratios and pad positions are rounded to this, so nearby requests share a render


class RequestError(SoundmorphError):
    """A request the page cannot serve; ``status`` is its HTTP status code."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def render_key(*parts: object) -> str:
    """The 16-hex-digit cache key of a render request made of ``parts``."""
    return hashlib.sha1("|".join(map(str, parts)).encode()).hexdigest()[:16]


def page_bpm(bpm: float | None) -> float | None:
    """A tempo from the page, checked and rounded to 0.01 BPM (a 400 when out of range)."""
    try:
        checked = api.check_bpm(bpm)
    except SoundmorphError as error:
        raise RequestError(str(error)) from None
    return None if checked is None else round(checked, 2)


def bpm_tag(bpm: float | None) -> tuple[str, ...]:
    """The part a tempo adds to a cache key (none when the sources' tempi are mixed)."""
    return () if bpm is None else (f"bpm={bpm}",)
