"""A fix as text edits: what a reporter (JSON, SARIF) hands to an editor.

A rule's fix replaces one node with another. The edit is the range the node
covers in the source (libcst's position, which leaves out a statement's
leading comment lines and its line break) and the text of the replacement
over that same range. That text is the replacement's code with what its
generated code holds beyond the range taken off both ends (the leading lines
and trailing line break of a statement, a small statement's ``; ``), and the
indentation of the place put back on its continuation lines. Each step is
checked on the replaced node itself: its generated code, cut the same way,
must be the source text of its range. When it is not, the edit is the
difference between the whole module before and after the fix (exact, but it
generates the module again).
"""

from __future__ import annotations

from typing import List, Optional

import libcst as cst

from threadlint.findings import Edit
from threadlint.positions import Span
from threadlint.walk import Replace


def fix_edit(module: cst.Module, lines: List[str], span: Span, target: cst.CSTNode,
             replacement: cst.CSTNode) -> Edit:
    """The edit that puts ``replacement`` in the place of ``target``, whose
    range is ``span``; ``lines`` are the source's lines without line breaks."""
    edit = _local_edit(module, lines, span, target, replacement)
    if edit is not None:
        return edit
    return _module_edit(module, cst.ensure_type(module.visit(Replace({target: replacement})),
                                                cst.Module))


def _local_edit(module: cst.Module, lines: List[str], span: Span, target: cst.CSTNode,
                replacement: cst.CSTNode) -> Optional[Edit]:
    line, col, end_line, end_col = span
    if not 1 <= line <= end_line <= len(lines):
        return None
    if line == end_line:
        written = lines[line - 1][col - 1:end_col - 1]
    else:
        written = "\n".join([lines[line - 1][col - 1:], *lines[line:end_line - 1],
                             lines[end_line - 1][:end_col - 1]])
    indent = lines[line - 1][:col - 1]
    if indent.strip():
        indent = ""  # not at the start of its line: continuation lines keep their own
    elif indent and not all(text.startswith(indent) or not text.strip()
                            for text in written.split("\n")[1:]):
        return None
    generated = _dedent(written, indent)
    original = module.code_for_node(target)
    at = original.find(generated)
    if at < 0:
        return None
    before, after = original[:at], original[at + len(generated):]
    new = module.code_for_node(replacement)
    if not (new.startswith(before) and new.endswith(after)) or len(new) < len(before) + len(after):
        return None
    content = new[len(before):len(new) - len(after)]
    return Edit(line, col, end_line, end_col, _indent(content, indent))


def _dedent(text: str, indent: str) -> str:
    first, *rest = text.split("\n")
    return "\n".join([first, *(part[len(indent):] if part.strip() else part for part in rest)])


def _indent(text: str, indent: str) -> str:
    first, *rest = text.split("\n")
    return "\n".join([first, *(indent + part if part.strip() else part for part in rest)])


def _module_edit(old: cst.Module, new: cst.Module) -> Edit:
    """The one edit turning ``old``'s code into ``new``'s: the text between
    their common beginning and their common end."""
    before, after = old.code, new.code
    start = 0
    limit = min(len(before), len(after))
    while start < limit and before[start] == after[start]:
        start += 1
    end = 0
    while end < limit - start and before[-1 - end] == after[-1 - end]:
        end += 1
    line, col = _position(before, start)
    end_line, end_col = _position(before, len(before) - end)
    return Edit(line, col, end_line, end_col, after[start:len(after) - end])


def _position(text: str, offset: int) -> tuple:
    """1-based (line, column) of ``offset``, counting line breaks as libcst does."""
    head = text[:offset].replace("\r\n", "\n").replace("\r", "\n")
    line = head.count("\n") + 1
    return line, len(head) - (head.rfind("\n") + 1) + 1
