"""threadlint as a flake8 plugin: ``flake8 --select TL`` reports what
``threadlint`` reports, through the same pure function
(``threadlint.engine.lint_source``), once per file.

Registered by the ``flake8.extension`` entry point ``TL`` in pyproject.toml.
Settings come from ``[tool.threadlint]`` found the way the ``threadlint``
command finds it (from the current directory upwards), but every rule runs:
flake8's own ``--select``/``--ignore``/``--extend-select`` and
``per-file-ignores`` decide which codes are shown. threadlint applies its own
``# noqa`` and ``# threadlint: noqa`` first (TL900 needs to know which noqa
comments were used); flake8 then applies its ``# noqa``, which reads the same
comments the same way, so a finding silenced for one is silenced for both.
"""

from __future__ import annotations

import ast
import functools
import io
import os
import sys
import tokenize
from dataclasses import replace
from typing import Iterator, List, Sequence, Tuple

from threadlint import __version__
from threadlint.config import find_config, load_settings
from threadlint.engine import lint_source
from threadlint.settings import Settings

#: flake8's result: (line, column from 0, "CODE message", the plugin's type).
Result = Tuple[int, int, str, type]


@functools.lru_cache(maxsize=8)
def settings_for(directory: str) -> Settings:
    """``[tool.threadlint]`` as ``threadlint`` run in ``directory`` reads it,
    with every rule selected. A bad configuration raises ``SettingsError``
    (flake8 then names the plugin and the message, and exits non-zero)."""
    settings = load_settings(find_config(directory), explicit=False)
    return replace(settings, select=("ALL",), ignore=(), extend_select=(), inherited=None,
                   per_file_ignores=())


def source_bytes(lines: Sequence[str]) -> bytes:
    """The file's bytes again from flake8's decoded lines, in the encoding its
    coding cookie declares (UTF-8 without one), so that the engine decodes
    them as the ``threadlint`` command does."""
    text = "".join(lines)
    encoded = text.encode("utf-8", "surrogateescape")
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(encoded).readline)
        if encoding not in ("utf-8", "utf-8-sig"):
            return text.encode(encoding)
    except (SyntaxError, LookupError, UnicodeEncodeError):
        pass
    return encoded


class Plugin:
    """The flake8 tree plugin (flake8 also hands it ``lines`` and ``filename``)."""

    name = "threadlint"
    version = __version__

    def __init__(self, tree: ast.AST, lines: List[str], filename: str) -> None:
        self.lines = lines
        self.filename = filename
        # Here rather than in run(): flake8 reports an exception raised while
        # it makes the plugin as one error line naming the plugin; one raised
        # from run()'s generator is a traceback.
        self.settings = settings_for(os.getcwd())

    def run(self) -> Iterator[Result]:
        result = lint_source(self.filename, source_bytes(self.lines), self.settings)
        for error in result.errors:
            level = "warning" if error.warning else "error"
            sys.stderr.write(f"threadlint: {level}: {error}\n")
        for finding in result.findings:
            yield finding.line, finding.col - 1, f"{finding.code} {finding.message}", type(self)
