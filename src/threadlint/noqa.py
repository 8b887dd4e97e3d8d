"""``# noqa`` comments with flake8's semantics.

A ``# noqa`` comment on any physical line of a logical line (a statement that
may span several lines) covers every finding on any line of it.
"""

from __future__ import annotations

import io
import re
import tokenize
from typing import Dict, FrozenSet, List, Optional

NOQA_RE = re.compile(
    r"#\s*noqa(?::[\s]?(?P<codes>[A-Z]+[0-9]+(?:[,\s]+[A-Z]+[0-9]+)*))?",
    re.IGNORECASE,
)

#: None in the mapping means "every code".
NoqaMap = Dict[int, Optional[FrozenSet[str]]]


def _parse_comment(comment: str) -> Optional[Optional[FrozenSet[str]]]:
    """None when ``comment`` holds no noqa; ``{"*"}`` for a blanket noqa."""
    match = NOQA_RE.search(comment)
    if match is None:
        return None
    codes = match.group("codes")
    if not codes:
        return frozenset({"*"})
    return frozenset(code.upper() for code in re.split(r"[,\s]+", codes.strip()) if code)


def noqa_lines(source: bytes) -> NoqaMap:
    """Map each physical line that a noqa covers to the codes it suppresses."""
    if b"noqa" not in source.lower():
        return {}
    result: Dict[int, Optional[FrozenSet[str]]] = {}
    logical_start = 1
    pending: set = set()
    blanket = False
    depth = 0
    try:
        for tok in tokenize.tokenize(io.BytesIO(source).readline):
            if tok.type == tokenize.COMMENT:
                codes = _parse_comment(tok.string)
                if codes is not None:
                    if "*" in codes:
                        blanket = True
                    else:
                        pending.update(codes)
            elif tok.type == tokenize.OP and tok.string in "([{":
                depth += 1
            elif tok.type == tokenize.OP and tok.string in ")]}":
                depth = max(0, depth - 1)
            elif tok.type in (tokenize.NEWLINE, tokenize.NL, tokenize.ENDMARKER):
                if tok.type == tokenize.NL and depth > 0:
                    continue  # a line break inside brackets: the statement goes on
                end = tok.end[0]
                if blanket or pending:
                    for line in range(logical_start, end + 1):
                        _merge(result, line, None if blanket else frozenset(pending))
                logical_start = end + 1
                pending = set()
                blanket = False
    except (tokenize.TokenError, SyntaxError, UnicodeDecodeError):
        return _physical_only(source)
    return result


def _merge(result: NoqaMap, line: int, codes: Optional[FrozenSet[str]]) -> None:
    if line in result:
        old = result[line]
        if old is None or codes is None:
            result[line] = None
        else:
            result[line] = old | codes
    else:
        result[line] = codes


def _physical_only(source: bytes) -> NoqaMap:
    result: NoqaMap = {}
    text = source.decode("utf-8", "replace")
    for number, line in enumerate(text.splitlines(), start=1):
        if "#" in line:
            codes = _parse_comment(line[line.index("#"):])
            if codes is not None:
                _merge(result, number, None if "*" in codes else codes)
    return result


def suppressed(noqa: NoqaMap, line: int, code: str) -> bool:
    if line not in noqa:
        return False
    codes = noqa[line]
    if codes is None:
        return True
    return any(code.startswith(prefix) for prefix in codes)



def comment_line(lines: List[str], line: int, col: int) -> int:
    """The line a ``# noqa`` for a finding at (``line``, ``col``) goes on:
    ``line`` itself, unless it ends inside a string that goes on over later
    lines or is continued by a backslash, where no comment can be written;
    then the next line of the statement that can take one (a noqa anywhere
    in the statement covers it). ``lines`` are the source's lines without
    their line breaks; only the statement's rest from the finding is read,
    starting at the finding, which is code, never inside a string."""
    rest = iter([lines[line - 1][col - 1:] + "\n"] + [text + "\n" for text in lines[line:]])
    target = line
    try:
        for tok in tokenize.generate_tokens(lambda: next(rest, "")):
            start, end = tok.start[0] + line - 1, tok.end[0] + line - 1
            if start > target:  # the line before ended in a backslash
                target = start
            if tok.type in (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT, tokenize.ENDMARKER):
                return target
            if end > target:  # a string over several lines: the comment goes after it
                target = end
    except (tokenize.TokenError, SyntaxError):
        pass
    return target
