"""What every rule is: a small batchable visitor with a code, a name and a message."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Optional, Tuple

import libcst as cst

from threadlint.analysis import ModuleAnalysis

if TYPE_CHECKING:  # pragma: no cover
    from threadlint.engine import LintContext


@dataclass
class Report:
    """A finding before positions are known: the node and what to say about it."""

    rule: type
    node: cst.CSTNode
    message: str
    replacement: Optional[cst.CSTNode] = None  # a safe fix, when the rule has one


#: An import statement naming a module whose API the rules recognise: ``import
#: threading``, ``from concurrent.futures import ...``, ``import os, _thread``,
#: also after a backslash continuation. Everything a rule resolves is reached
#: through such an import (or a name the rule lists in its own ``needs``).
THREADING_MODULES: Tuple[bytes, ...] = (
    rb"\b(?:import|from)\b(?:[^\n]|\\\n)*?\b(?:threading|multiprocessing|concurrent|_thread|asyncio)\b",
)

#: For rules about code that threads run: ``loop.run_in_executor(None, f)``
#: makes a thread entry point with no import of a threading module.
THREAD_ENTRY_NEEDS: Tuple[bytes, ...] = THREADING_MODULES + (rb"run_in_executor",)


class Rule(cst.BatchableCSTVisitor):
    """Base class of all rules.

    A rule reads the shared :class:`ModuleAnalysis` (``self.analysis``) and the
    traversal context (``self.ctx``: the enclosing function and class), and calls
    :meth:`report`. Its docstring is its user documentation, in ruff's shape.
    """

    code: ClassVar[str]
    name: ClassVar[str]
    summary: ClassVar[str]
    fixable: ClassVar[bool] = False
    #: Byte regular expressions: a file is parsed only if one of them matches
    #: for some enabled rule, so a file without any match cannot hold a finding
    #: and skips the libcst parse (it still gets a CPython syntax check).
    needs: ClassVar[Tuple[bytes, ...]] = THREADING_MODULES

    def __init__(self, ctx: "LintContext") -> None:
        super().__init__()
        self.ctx = ctx
        self.analysis: ModuleAnalysis = ctx.analysis
        ctx.rules.append(self)

    def report(self, node: cst.CSTNode, message: str,
               replacement: Optional[cst.CSTNode] = None) -> None:
        self.ctx.reports.append(Report(type(self), node, message, replacement))


def snippet(node: cst.CSTNode, limit: int = 40) -> str:
    """Source text of an expression on one line, without comments or redundant
    parentheses, shortened for messages."""
    code = cst.Module(body=[]).code_for_node(node)
    try:
        text = ast.unparse(ast.parse(f"(\n{code}\n)", mode="eval"))
    except (SyntaxError, ValueError, RecursionError):
        text = " ".join(code.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
