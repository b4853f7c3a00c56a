"""``python -m qbo_toolkit.emulator`` is ``qbo-toolkit emulator``."""

import sys

from .cli import main

sys.exit(main())
