"""What every rule is: a small batchable visitor with a code, a name and a message."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Optional

import libcst as cst

from threadlint.analysis import ModuleAnalysis
from threadlint.analysis.model import THREAD_CONSTRUCTORS
from threadlint.analysis.thread_entry import ENTRY_QUALIFIED_NAMES
from threadlint.prefilter import EVERY_FILE, Needs, resolving

if TYPE_CHECKING:  # pragma: no cover
    from threadlint.engine import LintContext


@dataclass
class Report:
    """A finding before positions are known: the node and what to say about it."""

    rule: type
    node: cst.CSTNode
    message: str
    replacement: Optional[cst.CSTNode] = None  # a safe fix, when the rule has one


#: Rules about threads made by ``threading.Thread``, ``Timer``, ``Process``
#: (or local subclasses, whose bases spell those names too).
THREAD_NEEDS: Needs = resolving(THREAD_CONSTRUCTORS)

#: For rules about code that threads run: every way ``thread_entry`` knows a
#: function is handed to a thread; ``loop.run_in_executor(None, f)`` makes one
#: with no import of a threading module.
THREAD_ENTRY_NEEDS: Needs = resolving(ENTRY_QUALIFIED_NAMES) + ((rb"run_in_executor\b",),)


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
    #: What a file must contain for this rule to find anything in it (see
    #: ``threadlint.prefilter``): files no enabled rule needs are not parsed.
    needs: ClassVar[Needs] = EVERY_FILE

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
