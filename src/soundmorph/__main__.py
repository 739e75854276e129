"""python -m soundmorph: the command line (:mod:`soundmorph.cli`)."""

import sys

from soundmorph.cli import main

sys.exit(main())
