"""``python -m exewhitelist``."""

import sys

from .cli import main

sys.exit(main())
