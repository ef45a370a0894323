"""``python -m prompt_tester_nb.local.model``: the demo model in the foreground."""

import sys

from .cli import main

sys.exit(main())
