"""The API is the face: everything it lists exists. (That the CLI and the web page import nothing
else from the package but the ground floor is checked in test_architecture.py.)"""

from __future__ import annotations

from soundmorph import api


def test_everything_the_api_lists_exists() -> None:
    missing = [name for name in api.__all__ if not hasattr(api, name)]
    assert not missing
    assert {"SoundModel", "RenderOptions", "load", "train", "evaluate", "demo", "list_sounds"} <= set(
        api.__all__
    )
