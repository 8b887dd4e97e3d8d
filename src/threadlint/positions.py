"""Where reported nodes are: libcst's PositionProvider ranges, for a few nodes.

libcst computes positions by generating the code of the whole module while
counting lines and columns: on a large file that costs three times its parse,
and a file with one finding would pay it in full. A top-level statement always
starts at column 0 of a new line, and generating it alone gives the same text
and the same relative positions as generating it within the module. So only
the statements that hold a reported node are generated, each from its first
line, which CPython's ``ast`` tells (plus the comment and blank lines libcst
puts in front of it).

Every shortcut is checked: the statement's generated text must equal the
source at the place computed for it. If any check fails (a file without a
final newline, an odd encoding, a node outside any statement) the whole
module's ranges are computed the usual way, so the result is always libcst's.
"""

from __future__ import annotations

import ast
import re
import warnings
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, cast

import libcst as cst
from libcst.metadata import CodeRange

from threadlint.compat import module_ranges, statement_ranges
from threadlint.walk import Recording

#: (line, column, end line, end column), 1-based columns.
Span = Tuple[int, int, int, int]

# libcst's own definition of a line break, for counting lines the same way.
_NEWLINE = re.compile(r"\r\n?|\n")


def spans(module: cst.Module, source: bytes, nodes: Sequence[cst.CSTNode],
          recording: Optional[Recording]) -> Dict[cst.CSTNode, Span]:
    """The range of each of ``nodes``, exactly as PositionProvider gives it."""
    if recording is not None:
        try:
            found = _statement_spans(module, source, nodes, recording)
        except Exception:  # noqa: BLE001 - any surprise (a libcst release) falls back
            found = None
        if found is not None:
            return {node: found[node] for node in nodes}
    ranges = module_ranges(module)
    return {node: _span(ranges[node]) if node in ranges else (1, 1, 1, 1) for node in nodes}


def _span(code_range: CodeRange, shift: int = 0) -> Span:
    return (code_range.start.line + shift, code_range.start.column + 1,
            code_range.end.line + shift, code_range.end.column + 1)


def _statement_spans(module: cst.Module, source: bytes, nodes: Sequence[cst.CSTNode],
                     recording: Recording) -> Optional[Dict[cst.CSTNode, Span]]:
    """Spans from generating only the statements that hold ``nodes``: a
    top-level statement, or one statement of the body of a top-level class or
    function (a method, not its whole class). None when a check fails."""
    holders = _holders(module, nodes, recording)
    if holders is None:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the file's own SyntaxWarnings
        tree = ast.parse(source)
    tops = _first_code_lines(module.body, tree.body)
    if tops is None:
        return None
    text = source.decode(module.encoding)
    line_starts = [0] + [match.end() for match in _NEWLINE.finditer(text)]
    found: Dict[cst.CSTNode, Span] = {}
    for top, member in sorted(set(holders.values())):
        top_statement = module.body[top]
        statement: cst.CSTNode = top_statement
        first_line, parsed = tops[top]
        indent: List[str] = []
        if member >= 0:
            block = cast(cst.IndentedBlock, top_statement.body)  # a class or def's: see _holders
            members = _first_code_lines(block.body, getattr(parsed, "body", []))
            if members is None:
                return None
            statement, first_line = block.body[member], members[member][0]
            indent = [module.default_indent if block.indent is None else block.indent]
        generated = _generate(module, statement, first_line, indent, text, line_starts)
        if generated is None:
            return None
        found.update(generated)
    return found if all(node in found for node in nodes) else None


def _holders(module: cst.Module, nodes: Iterable[cst.CSTNode],
             recording: Recording) -> Optional[Dict[int, Tuple[int, int]]]:
    """id(node) -> (index of its top-level statement in ``module.body``, index
    of its statement in that one's body when it is a class or function with an
    indented body, else -1), from the recorded walk: in pre-order a node
    belongs to the last statement visited before it at each level."""
    wanted = {id(node) for node in nodes}
    tops = {id(statement): index for index, statement in enumerate(module.body)}
    members: Dict[int, Tuple[int, int]] = {}
    for index, statement in enumerate(module.body):
        if isinstance(statement, (cst.ClassDef, cst.FunctionDef)) and \
                isinstance(statement.body, cst.IndentedBlock):
            for position, inner in enumerate(statement.body.body):
                members[id(inner)] = (index, position)
    found: Dict[int, Tuple[int, int]] = {}
    current = (-1, -1)
    for node, leaving in zip(recording.nodes, recording.leaving):
        if leaving:
            continue
        key = id(node)
        top = tops.get(key)
        if top is not None:
            current = (top, -1)
        else:
            member = members.get(key)
            if member is not None:
                current = member
        if key in wanted and current[0] >= 0:
            found[key] = current
    return found if len(found) == len(wanted) else None


def _first_code_lines(statements: Sequence[cst.BaseStatement],
                      parsed: List[ast.stmt]) -> Optional[List[Tuple[int, ast.stmt]]]:
    """For each of libcst's ``statements``: the line of its first token (a
    decorator's ``@`` for a decorated definition) and its first counterpart
    among CPython's ``parsed`` statements of the same block."""
    lines: List[Tuple[int, ast.stmt]] = []
    position = 0
    for statement in statements:
        count = len(statement.body) if isinstance(statement, cst.SimpleStatementLine) else 1
        if count == 0 or position >= len(parsed):
            return None
        first = parsed[position]
        line = first.lineno
        for decorator in getattr(first, "decorator_list", ()):
            line = min(line, decorator.lineno)
        lines.append((line, first))
        position += count
    return lines if position == len(parsed) else None


def _generate(module: cst.Module, statement: cst.CSTNode, first_code_line: int,
              indent: List[str], text: str, line_starts: List[int]) -> Optional[Dict[cst.CSTNode, Span]]:
    """Generate ``statement`` (inside blocks indented by ``indent``) with
    positions counted from where it starts in the source; None unless the
    generated text is exactly the source there."""
    generated = statement_ranges(module, statement, indent)
    if generated is None:
        return None
    code, computed = generated
    # Comment and blank lines libcst attaches before the first code line.
    prefix_lines = 0
    for line in _NEWLINE.split(code):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            break
        prefix_lines += 1
    start_line = first_code_line - prefix_lines
    if not 1 <= start_line <= len(line_starts):
        return None
    offset = line_starts[start_line - 1]
    if text[offset:offset + len(code)] != code:
        return None
    shift = start_line - 1
    return {node: _span(code_range, shift) for node, code_range in computed.items()}
