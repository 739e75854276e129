"""The errors soundmorph raises at its boundaries.

Every error a user can cause (a bad file, a bad argument, a broken model folder) is a
:class:`SoundmorphError` whose message is one line that names the bad value. The CLI prints
that line and exits with status 1; Python callers can catch the class.
"""

from __future__ import annotations


class SoundmorphError(Exception):
    """A problem caused by the input (a file, a folder, an argument), not by a bug."""


class AudioError(SoundmorphError):
    """An audio file that cannot be used: unreadable, empty, silent, not finite, too short."""


class ModelFolderError(SoundmorphError):
    """A model folder that is missing, of an unknown format version, or does not match its config."""


class UnknownSourceError(SoundmorphError):
    """A sound named by a library index (or id) that the library does not have."""


class SoundmorphWarning(UserWarning):
    """Risky input that was used anyway (a truncated or DC-only file); the CLI prints it as one line."""
