"""Allow ``python -m threadlint`` (safest as ``python -P -m threadlint``).

``python -m`` puts the current directory first on sys.path, so a linted
project's own ``copy.py`` or ``queue.py`` would shadow the standard library
modules threadlint imports. The ``threadlint`` script does not; neither may
-m: the directory is taken off sys.path before anything else is imported.

That comes too late for the modules Python's ``-m`` machinery imports itself
before this file runs (``runpy`` imports ``importlib``, which imports
``warnings``): a project's ``warnings.py`` has already run by then, and
nothing here can prevent it. ``python -P -m threadlint`` (Python 3.11+), or
the ``threadlint`` command, never looks in the current directory. When such
a module was imported, threadlint stops with a message rather than run on top
of it.
"""

import os
import sys

#: Before Python 3.10 has sys.stdlib_module_names: what -m imports first.
_EARLY_MODULES = frozenset((
    "abc", "codecs", "collections", "contextlib", "copyreg", "enum", "functools", "heapq",
    "importlib", "io", "itertools", "keyword", "operator", "os", "pkgutil", "re", "reprlib",
    "runpy", "sre_compile", "sre_constants", "sre_parse", "types", "warnings", "weakref",
))


def _shadowing(directory: str) -> list:
    """The standard library modules already imported from ``directory``."""
    stdlib = getattr(sys, "stdlib_module_names", _EARLY_MODULES)
    here = os.path.realpath(directory) + os.sep
    if here == os.path.dirname(os.path.realpath(os.__file__)) + os.sep:
        return []  # linting the standard library itself, from its directory
    found = []
    for name, module in list(sys.modules.items()):
        if name.partition(".")[0] not in stdlib:
            continue
        origin = getattr(module, "__file__", None)
        if isinstance(origin, str) and os.path.realpath(origin).startswith(here):
            found.append(name)
    return sorted(found)


if sys.path and sys.path[0] in ("", os.getcwd()):
    _shadowed = _shadowing(sys.path[0] or os.getcwd())
    del sys.path[0]
    if _shadowed:
        if sys.stderr is not None:
            sys.stderr.write(
                f"threadlint: error: 'python -m' imported {', '.join(_shadowed)} from the current "
                "directory in place of the standard library's before threadlint started; "
                "run 'python -P -m threadlint' (Python 3.11+) or the 'threadlint' command\n")
        sys.exit(2)

from threadlint.cli import main  # noqa: E402 - after the sys.path fix above

sys.exit(main())
