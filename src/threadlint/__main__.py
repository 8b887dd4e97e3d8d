"""Allow ``python -m threadlint``."""

import os
import sys

# ``python -m`` puts the current directory first on sys.path, so a linted
# project's own ``copy.py`` or ``queue.py`` would shadow the standard library
# modules threadlint imports. The ``threadlint`` script does not; neither may -m.
if sys.path and sys.path[0] in ("", os.getcwd()):
    del sys.path[0]

from threadlint.cli import main  # after the sys.path fix above

sys.exit(main())
