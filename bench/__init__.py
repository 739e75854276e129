"""soundmorph benchmarks: reconstruction and morph quality, and speed (``python -m bench --help``)."""
