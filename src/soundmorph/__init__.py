"""soundmorph: learn a latent space of your sounds and render the sounds between them."""

from __future__ import annotations

import os

# torch's CPU threads (libgomp, read when torch loads: hence here, before anything imports it) spin
# at every barrier by default. On a CPU shared with other work (a DAW, a browser, another job, the
# web page's own concurrent morphs) a spinning thread waits for one that is not running: on 2 cores
# at load 4-10, paper's training steps took 2-6x longer and a morph 2-5x. Passive threads sleep
# instead; on an idle machine that costs ~6 % of an epoch but 2.7x a paper morph (bench/README.md,
# "Threads"): OMP_WAIT_POLICY=ACTIVE in the environment restores the spinning.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"

from soundmorph.errors import AudioError, ModelFolderError, SoundmorphError

__all__ = ["AudioError", "ModelFolderError", "SoundmorphError", "__version__"]
