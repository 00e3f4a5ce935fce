"""``python -m web4ai``: the ``web4ai`` command."""

import sys

from web4ai.cli import main

sys.exit(main())
