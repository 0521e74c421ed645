"""``python -m uprez``: the command line."""

import sys

from uprez.cli import main

sys.exit(main())
