"""``# noqa`` comments: reading them, judging them (TL900) and writing them
(``--add-noqa``).

Line level, flake8's semantics: ``# noqa`` silences every code and
``# noqa: TL101,TL2`` the listed codes or prefixes, and a comment on any
physical line of a logical line (a statement that may span several lines)
covers every finding on any line of it.

File level, like ruff's ``# ruff: noqa``: a comment ``# threadlint: noqa``
(every code) or ``# threadlint: noqa: TL201,TL305`` (those codes or prefixes)
on a line of its own, anywhere in the file. The same text after code on a
line is not a file-level exemption (and not a line-level ``# noqa`` either).

Everything here works on tokens (``tokenize``), never on the libcst tree: the
noqa stage runs after the rules, on any file, parsed or not.
"""

from __future__ import annotations

import io
import re
import tokenize
from dataclasses import dataclass, field
from typing import Dict, FrozenSet, Iterable, List, Optional, Sequence, Set, Tuple

_CODES = r"[A-Z]+[0-9]+(?:[,\s]+[A-Z]+[0-9]+)*"
NOQA_RE = re.compile(r"#\s*noqa(?::[\s]?(?P<codes>" + _CODES + r"))?", re.IGNORECASE)
#: ``# threadlint: noqa`` and what follows it on the comment.
FILE_NOQA_RE = re.compile(r"#\s*threadlint\s*:\s*noqa(?P<rest>.*)", re.IGNORECASE)
_FILE_CODES_RE = re.compile(r":\s*(?P<codes>" + _CODES + r")", re.IGNORECASE)
_SPLIT = re.compile(r"[,\s]+")
#: Whether the bytes spell "noqa" at all (no lower-cased copy of every file).
_NAMES_NOQA = re.compile(rb"noqa", re.IGNORECASE).search


def split_codes(text: str) -> List[str]:
    return [code for code in _SPLIT.split(text.strip()) if code]


@dataclass
class Directive:
    """One ``# noqa`` comment: where it is, the statement lines it covers,
    the codes it names (None: every code) and the codes it has suppressed."""

    line: int
    #: 0-based column (in characters) of the comment token on its line.
    comment_col: int
    comment: str
    match: re.Match[str]
    first: int
    last: int
    codes: Optional[Tuple[str, ...]]
    used: Set[str] = field(default_factory=set)

    @property
    def col(self) -> int:
        """1-based column of the ``# noqa`` itself."""
        return self.comment_col + self.match.start() + 1

    def matches(self, code: str) -> List[str]:
        """The entries of this directive that cover ``code`` (``["*"]`` for a blanket one)."""
        if self.codes is None:
            return ["*"]
        return [entry for entry in self.codes if code.startswith(entry)]


@dataclass
class Noqa:
    """The noqa comments of one file."""

    directives: List[Directive] = field(default_factory=list)
    #: Whether ``# threadlint: noqa`` without codes exempts the whole file.
    file_all: bool = False
    #: Codes or prefixes a ``# threadlint: noqa: ...`` exempts in the whole file.
    file_codes: FrozenSet[str] = frozenset()
    #: False when the file could not be tokenized: only physical lines count
    #: then, and nothing is judged unused.
    tokenized: bool = True
    covering: Dict[int, List[Directive]] = field(default_factory=dict)

    def suppresses(self, line: int, code: str) -> bool:
        """Whether a finding of ``code`` on ``line`` is silenced; records which
        directives (and which of their codes) were used."""
        hit = False
        for directive in self.covering.get(line, ()):
            entries = directive.matches(code)
            if entries:
                directive.used.update(entries)
                hit = True
        if hit:
            return True
        return self.file_all or any(code.startswith(prefix) for prefix in self.file_codes)


@dataclass
class Layout:
    """What ``--add-noqa`` needs to know about each physical line."""

    #: The decoded source split after each ``\\n`` (tokenize's line numbering).
    lines: List[str]
    encoding: str
    #: Line -> (first, last) lines of its logical line.
    statement: Dict[int, Tuple[int, int]]
    #: Line -> (column, text) of the comment that ends it.
    comments: Dict[int, Tuple[int, str]]
    #: Lines whose end is inside a string or continued with a backslash: a
    #: comment cannot go there.
    unsafe: Set[int]


def read_noqa(source: bytes) -> Noqa:
    """The noqa comments of ``source`` (fast when it names no noqa at all)."""
    if _NAMES_NOQA(source) is None:
        return Noqa()
    try:
        noqa, _ = _scan(source)
    except (tokenize.TokenError, SyntaxError, UnicodeDecodeError, LookupError):
        return _physical_only(source)
    return noqa


def layout(source: bytes) -> Optional[Layout]:
    """The layout of ``source``, or None when it cannot be tokenized."""
    try:
        _, result = _scan(source)
    except (tokenize.TokenError, SyntaxError, UnicodeDecodeError, LookupError):
        return None
    return result


def _parse_comment(comment: str) -> Optional[re.Match[str]]:
    return NOQA_RE.search(comment)


def _codes_of(match: re.Match[str]) -> Optional[Tuple[str, ...]]:
    codes = match.group("codes")
    if not codes:
        return None
    return tuple(code.upper() for code in split_codes(codes))


def _file_exemption(comment: str) -> Optional[Optional[FrozenSet[str]]]:
    """None when ``comment`` is not a ``# threadlint: noqa`` exemption;
    ``{"*"}`` for every code, else the codes or prefixes it names."""
    match = FILE_NOQA_RE.match(comment)
    if match is None:
        return None
    rest = match.group("rest")
    if not rest.strip() or rest[0].isspace():
        return frozenset({"*"})  # `# threadlint: noqa` (perhaps with a reason after a space)
    codes = _FILE_CODES_RE.match(rest)
    if codes is None:
        return None  # `# threadlint: noqa:` with no code, `# threadlint: noqa-ish`: not ours
    return frozenset(code.upper() for code in split_codes(codes.group("codes")))


def _scan(source: bytes) -> Tuple[Noqa, Layout]:
    noqa = Noqa()
    encoding = "utf-8"
    statement: Dict[int, Tuple[int, int]] = {}
    comments: Dict[int, Tuple[int, str]] = {}
    unsafe: Set[int] = set()
    pending: List[Directive] = []
    logical_start = 1
    depth = 0
    for tok in tokenize.tokenize(io.BytesIO(source).readline):
        if tok.type == tokenize.ENCODING:
            encoding = tok.string
        elif tok.type == tokenize.COMMENT:
            line, col = tok.start
            comments[line] = (col, tok.string)
            own_line = not tok.line[:col].strip()
            exemption = _file_exemption(tok.string) if own_line else None
            if exemption is not None:
                if "*" in exemption:
                    noqa.file_all = True
                else:
                    noqa.file_codes |= exemption
                continue
            match = _parse_comment(tok.string)
            if match is not None:
                pending.append(Directive(line, col, tok.string, match, line, line, _codes_of(match)))
        elif tok.type == tokenize.OP and tok.string in "([{":
            depth += 1
        elif tok.type == tokenize.OP and tok.string in ")]}":
            depth = max(0, depth - 1)
        elif tok.type in (tokenize.NEWLINE, tokenize.NL, tokenize.ENDMARKER):
            if tok.type == tokenize.NL and depth > 0:
                continue  # a line break inside brackets: the statement goes on
            end = tok.end[0] if tok.type != tokenize.ENDMARKER else tok.start[0]
            for line in range(logical_start, end + 1):
                statement[line] = (logical_start, end)
            for directive in pending:
                directive.first, directive.last = logical_start, end
                noqa.directives.append(directive)
                for line in range(logical_start, end + 1):
                    noqa.covering.setdefault(line, []).append(directive)
            logical_start = end + 1
            pending = []
        if tok.start[0] < tok.end[0] and tok.type not in (tokenize.NL, tokenize.NEWLINE):
            unsafe.update(range(tok.start[0], tok.end[0]))  # a string spanning lines
    text = source.decode(encoding)
    lines = text.split("\n")
    lines = [line + "\n" for line in lines[:-1]] + ([lines[-1]] if lines[-1] else [])
    for number, physical in enumerate(lines, start=1):
        if physical.rstrip("\r\n").endswith("\\") and number not in comments:
            unsafe.add(number)  # a backslash continuation
    return noqa, Layout(lines, encoding, statement, comments, unsafe)


def _physical_only(source: bytes) -> Noqa:
    noqa = Noqa(tokenized=False)
    text = source.decode("utf-8", "replace")
    for number, line in enumerate(text.split("\n"), start=1):
        if "#" in line:
            col = line.index("#")
            match = _parse_comment(line[col:])
            if match is not None:
                directive = Directive(number, col, line[col:], match, number, number, _codes_of(match))
                noqa.directives.append(directive)
                noqa.covering.setdefault(number, []).append(directive)
    return noqa


# --------------------------------------------------------------------------- #
# TL900: the codes a directive names that suppressed nothing
# --------------------------------------------------------------------------- #

@dataclass
class Unused:
    """Codes of one directive that suppressed nothing, and the comment without them."""

    directive: Directive
    codes: Tuple[str, ...]
    #: The comment with those codes removed; None: remove the whole comment.
    replacement: Optional[str]


def unused(noqa: Noqa, enabled: FrozenSet[str], rule_codes: Iterable[str],
           exempt: str) -> List[Unused]:
    """The threadlint codes named in line-level directives that suppressed
    nothing in this run. Only entries starting with ``TL`` are judged, and only
    when every rule they name was enabled for this file (a code not selected
    may be used by a run that selects it); an entry naming ``exempt`` (TL900
    itself) or no rule at all is left alone, and so is a blanket ``# noqa``."""
    known = tuple(rule_codes)
    result: List[Unused] = []
    for directive in noqa.directives:
        if directive.codes is None:
            continue
        dead: List[str] = []
        for entry in directive.codes:
            named = [code for code in known if code.startswith(entry)]
            if not entry.startswith("TL") or not named or exempt in named \
                    or not all(code in enabled for code in named) or entry in directive.used:
                continue
            if entry not in dead:
                dead.append(entry)
        if dead:
            result.append(Unused(directive, tuple(dead), _without(directive, set(dead))))
    return result


def _without(directive: Directive, dead: Set[str]) -> Optional[str]:
    comment, match = directive.comment, directive.match
    written = split_codes(match.group("codes"))
    keep = [code for code in written if code.upper() not in dead]
    if keep:
        start, end = match.span("codes")
        return comment[:start] + ", ".join(keep) + comment[end:]
    before = comment[:match.start()].rstrip()
    after = comment[match.end():].strip()
    if not before and not after:
        return None
    if not before:
        return after if after.startswith("#") else "# " + after
    if not after:
        return before
    return before + ("  " if after.startswith("#") else " ") + after


def remove_unused(source: bytes, edits: Sequence[Unused]) -> Optional[bytes]:
    """``source`` with each unused code removed from its comment (the whole
    comment when no code remains); None when the file cannot be rewritten."""
    where = layout(source)
    if where is None or not _round_trips(source, where):
        return None
    lines = list(where.lines)
    for edit in edits:
        directive = edit.directive
        index = directive.line - 1
        line = lines[index]
        body, eol = _split_eol(line)
        col = directive.comment_col
        if body[col:col + len(directive.comment)] != directive.comment:
            return None  # not the file the directives were read from
        if edit.replacement is None:
            body = body[:col].rstrip(" \t")
        else:
            body = body[:col] + edit.replacement
        lines[index] = body + eol
    return "".join(lines).encode(where.encoding)


# --------------------------------------------------------------------------- #
# --add-noqa
# --------------------------------------------------------------------------- #

def _split_eol(line: str) -> Tuple[str, str]:
    body = line.rstrip("\r\n")
    return body, line[len(body):]


def _round_trips(source: bytes, where: Layout) -> bool:
    """Whether the decoded lines give back exactly ``source`` (no lone
    carriage return, which tokenize and libcst count differently)."""
    text = "".join(where.lines)
    return "\r" not in text.replace("\r\n", "") and text.encode(where.encoding) == source


def add_noqa(source: bytes, targets: Sequence[Tuple[int, str]],
             ) -> Tuple[Optional[bytes], List[Tuple[int, str, str]]]:
    """``source`` with a ``# noqa: CODE`` for each (line, code) of
    ``targets``, put where :func:`read_noqa` reads it back: merged into a
    ``# noqa: ...`` already on the statement, else at the end of the line
    itself, else (the line ends inside a string or with a backslash) at the
    end of the statement's last line. Returns the new bytes (None when
    nothing changed) and the (line, code, reason) that could not be placed."""
    where = layout(source)
    if where is None:
        return None, [(line, code, "the file cannot be tokenized") for line, code in targets]
    if not _round_trips(source, where):
        return None, [(line, code, "the file has lone carriage returns") for line, code in targets]
    noqa, _ = _scan(source)
    skipped: List[Tuple[int, str, str]] = []
    add: Dict[int, List[str]] = {}
    for line, code in targets:
        first, last = where.statement.get(line, (line, line))
        merge = [d.line for d in noqa.directives if first <= d.line <= last and d.codes is not None]
        if line in merge:
            target = line
        elif merge:
            target = merge[0]
        elif line not in where.unsafe and line <= len(where.lines):
            target = line
        elif last not in where.unsafe and last <= len(where.lines):
            target = last
        else:
            skipped.append((line, code, "no line of the statement can end with a comment"))
            continue
        codes = add.setdefault(target, [])
        if code not in codes:
            codes.append(code)
    if not add:
        return None, skipped
    lines = list(where.lines)
    by_line = {d.line: d for d in noqa.directives if d.codes is not None}
    for target, codes in add.items():
        body, eol = _split_eol(lines[target - 1])
        directive = by_line.get(target)
        if directive is not None:
            present = set(directive.codes or ())
            new = [code for code in sorted(codes) if code not in present]
            end = directive.comment_col + directive.match.end("codes")
            body = body[:end] + "".join(f", {code}" for code in new) + body[end:]
        else:
            body = body.rstrip(" \t") + "  # noqa: " + ", ".join(sorted(codes))
        lines[target - 1] = body + eol
    return "".join(lines).encode(where.encoding), skipped


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
