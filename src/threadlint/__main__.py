"""Allow ``python -m threadlint``."""

import sys

from threadlint.cli import main

sys.exit(main())
