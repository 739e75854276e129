import sys

from soundmorph.cli import main

sys.exit(main())
