"""soundmorph benchmarks: reconstruction and morph quality, and speed (``python -m bench --help``)."""

import soundmorph  # noqa: F401  (first: its thread settings must be in place before torch loads)
