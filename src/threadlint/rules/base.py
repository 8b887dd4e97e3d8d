"""What every rule is: a small class with a code, a name, hooks and a judgement.

A rule declares the model providers it reads (``requires``) and may define
``visit_<Node>(node)``/``leave_<Node>(node)`` hooks, which the engine calls in
source order with :attr:`Rule.cursor` telling the enclosing function and
class, and :meth:`Rule.finish`, called once after the whole module has been
seen. Every fact in the model is finished before the first hook runs. A hook
name that is not a libcst node type is an error when the class is defined.
See CONTRIBUTING.md for a complete example.
"""

from __future__ import annotations

import ast
import io
import tokenize
from dataclasses import dataclass
from typing import ClassVar, List, Optional, Sequence, Tuple, Type

import libcst as cst

from threadlint.findings import APPLICABILITIES
from threadlint.model.core import Cursor, Model, Provider
from threadlint.model.names import Names
from threadlint.needs import RULE_NEEDS
from threadlint.prefilter import EVERY_FILE, Needs
from threadlint.walk import check_hooks

#: Stands in a message for the line of the next related node (positions are
#: only known once every rule has reported): ``f"... (line {RELATED_LINE})"``.
RELATED_LINE = "\x1e"


@dataclass
class Report:
    """A finding before positions are known: the node and what to say about it."""

    rule: Type[Rule]
    node: cst.CSTNode
    message: str
    replacement: Optional[cst.CSTNode] = None  # the fix, when the rule has one
    related: Sequence[Tuple[cst.CSTNode, str]] = ()  # other places: node, what is there
    fix_node: Optional[cst.CSTNode] = None  # what the fix replaces, when not ``node``
    #: "safe" (``--fix`` applies it) or "unsafe" (only with ``--unsafe-fixes``)
    applicability: str = "safe"


class Rule:
    """Base class of all rules. Its docstring is its user documentation, in
    ruff's shape (What it does / Why is this bad? / Example / Use instead /
    Fix safety / Known limitations)."""

    code: ClassVar[str]
    name: ClassVar[str]
    summary: ClassVar[str]
    fixable: ClassVar[bool] = False
    #: What a file must contain for this rule to find anything in it (see
    #: ``threadlint.prefilter``): files no enabled rule needs are not parsed.
    #: Read from ``threadlint.needs.RULE_NEEDS`` by code (the prefilter runs
    #: before any rule is imported); a rule with no entry is given every file.
    needs: ClassVar[Needs] = EVERY_FILE
    #: The model providers this rule reads (their own dependencies follow).
    requires: ClassVar[Tuple[Type[Provider], ...]] = ()

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        check_hooks(cls)
        if "needs" in cls.__dict__:
            raise TypeError(f"{cls.__name__}: a rule's needs go in threadlint.needs.RULE_NEEDS, "
                            "where the prefilter reads them before any rule is imported")
        code = cls.__dict__.get("code")
        if code is not None:
            cls.needs = RULE_NEEDS.get(code, EVERY_FILE)

    def __init__(self, model: Model) -> None:
        self.model = model
        self.names: Names = model[Names]
        self.cursor: Cursor = model.cursor
        self.reports: List[Report] = []

    def finish(self) -> None:
        """Judge the whole module; called once after the last hook."""

    def report(self, node: cst.CSTNode, message: str, fix: Optional[cst.CSTNode] = None,
               related: Sequence[Tuple[cst.CSTNode, str]] = (),
               fix_node: Optional[cst.CSTNode] = None, applicability: str = "safe") -> None:
        """Report ``node`` (its range is the finding's position). ``fix``, for a
        rule with ``fixable = True``, is a node to put in its place: ``--fix``
        applies it, then checks that the file still compiles.
        ``applicability`` is "safe" (the meaning of the code is kept) or
        "unsafe" (it may change behaviour: applied only with
        ``--unsafe-fixes``; the rule's Fix safety section says why).
        ``related`` names the other places of a two-place problem, each with
        what is there; each :data:`RELATED_LINE` in ``message`` becomes the
        line of the next one, and JSON output lists them all. ``fix_node``
        is the node ``fix`` replaces when that is not ``node`` itself (the
        whole statement around a reported expression)."""
        if applicability not in APPLICABILITIES:
            raise ValueError(f"applicability must be one of {APPLICABILITIES}, not {applicability!r}")
        self.reports.append(Report(type(self), node, message, fix, related, fix_node, applicability))


def snippet(node: cst.CSTNode, limit: int = 40) -> str:
    """Source text of an expression on one line, without comments or redundant
    parentheses, shortened for messages."""
    code = cst.Module(body=[]).code_for_node(node)
    try:
        text = ast.unparse(ast.parse(f"(\n{code}\n)", mode="eval"))
    except (SyntaxError, ValueError, RecursionError):
        text = " ".join(code.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


#: Tokens that carry no text of an expression as written.
_LAYOUT = frozenset({tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT,
                     tokenize.DEDENT, tokenize.ENDMARKER})


def quote(node: cst.CSTNode, limit: int = 40) -> str:
    """Source text of an expression exactly as written (its parentheses and
    spacing kept), put on one line without comments, shortened for messages.
    Unlike :func:`snippet`, which normalises through ``ast`` and so shows
    ``args=(url)`` as ``args=url``, this keeps what a reader must see."""
    code = cst.Module(body=[]).code_for_node(node)
    text = _one_line(code)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _one_line(code: str) -> str:
    """``code`` with its line breaks (and the indentation after them) turned
    into one space, none after an opening bracket or before a closing one,
    and its comments dropped; spacing within a line is kept."""
    lines = code.splitlines(keepends=True)
    try:
        tokens = [tok for tok in tokenize.generate_tokens(io.StringIO(code).readline)
                  if tok.type not in _LAYOUT]
    except (tokenize.TokenError, SyntaxError):
        return " ".join(code.split())
    parts: List[str] = []
    previous: Optional[tokenize.TokenInfo] = None
    for tok in tokens:
        if previous is None:
            gap = ""
        elif previous.end[0] == tok.start[0]:
            gap = lines[tok.start[0] - 1][previous.end[1]:tok.start[1]]
        elif previous.string in ("(", "[", "{") or tok.string in (")", "]", "}"):
            gap = ""
        else:
            gap = " "
        parts.append(gap + tok.string)
        previous = tok
    return "".join(parts)
