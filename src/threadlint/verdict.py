"""CPython's verdict on a file's bytes, and where it puts the error.

TL999 is the running interpreter's verdict for every file: the bytes are
compiled as ``import`` compiles them (``compile(source_bytes, ...)``: the BOM
and the PEP 263 cookie are CPython's to read), so what libcst accepts and
CPython refuses (``"\\N{NO SUCH NAME}"``, a NUL byte, ``b'é'``, syntax of a
newer Python) is reported, and what CPython refuses is never handed to libcst
(its native parser can crash its process, or run for minutes, on nesting that
CPython refuses).

Positions are CPython's, made to exist:

- lines are counted the way CPython counts them (``\\r\\n``, ``\\r`` and
  ``\\n`` end a line; form feeds and Unicode line separators do not);
- CPython's column is in characters for some errors and in UTF-8 bytes for
  others (compiling bytes without a cookie); the column is taken from
  compiling the decoded text, which gives characters, and a column past the
  end of the line is read as a byte offset;
- a column is never past the end of its line (one past its last character
  points at the end of the line), a line never past the end of the file.

Bytes that do not decode in the file's encoding are refused by CPython when it
runs the file as a script (``Non-UTF-8 code starting with '\\xff' ...``),
even where ``compile()`` of the bytes lets them pass in a comment; libcst
cannot decode them either, so they are TL999 too, at the offending byte.
After a cookie or a BOM CPython skips a comment undecoded when it runs the
file too: then the file is valid, and only libcst cannot read it
(``Verdict.undecodable``).

How deep code may nest depends, on 3.11, on the recursion limit and on the
depth of the caller: the verdict is that of a script compiled at depth 0
under the default limit, whatever threadlint's own.
"""

from __future__ import annotations

import ast
import codecs
import re
import sys
import warnings
from dataclasses import dataclass
from typing import List, Optional, Tuple, Union

from threadlint.stacks import on_thread, on_thread_named

#: CPython's line ends (its tokenizer's, and libcst's).
_NEWLINE = re.compile(r"\r\n?|\n")
_NEWLINE_BYTES = re.compile(rb"\r\n?|\n")
_BOM = codecs.BOM_UTF8
# PEP 263, as tokenize and CPython's tokenizer read it (ASCII only).
_COOKIE = re.compile(r"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)", re.ASCII)
_BLANK = re.compile(r"^[ \t\f]*(?:[#\r\n]|$)", re.ASCII)
#: The recursion limit CPython compiles a script under (3.11 scales it for
#: the parser and the AST; 3.12+ use fixed C limits and ignore it).
_SCRIPT_RECURSION_LIMIT = 1000
_FRESH_THREAD = "threadlint-verdict"
#: A main thread's usual stack, which CPython's limits are made for.
_FRESH_STACK_BYTES = 8 * 1024 * 1024

#: (line, column, message): a TL999, columns 1-based.
Error = Tuple[int, int, str]


@dataclass(frozen=True)
class Verdict:
    """``error`` (a TL999) is None when CPython accepts the file; ``encoding``
    is the one to decode it with (``utf-8-sig`` after a BOM), for libcst."""

    encoding: str
    error: Optional[Error] = None
    #: Where the bytes stop decoding in a file CPython accepts (its cookie or
    #: BOM makes ``python file.py`` skip comments undecoded): not a syntax
    #: error, but libcst cannot read the file.
    undecodable: Optional[Error] = None


def _lines(source: bytes) -> List[bytes]:
    """The first two lines, as CPython looks for a cookie in them."""
    lines: List[bytes] = []
    start = 0
    for match in _NEWLINE_BYTES.finditer(source):
        lines.append(source[start:match.start()])
        start = match.end()
        if len(lines) == 2:
            return lines
    lines.append(source[start:])
    return lines[:2]


def detect_encoding(source: bytes) -> Tuple[str, int]:
    """The encoding CPython decodes ``source`` with, and the line of its
    cookie (0 without one). Raises SyntaxError where CPython refuses the
    declaration (an unknown encoding, a cookie that contradicts a BOM).

    ``tokenize.detect_encoding`` splits lines on ``\\n`` only and wants the
    first line to be UTF-8 even when the second declares another encoding;
    CPython does neither."""
    bom = source.startswith(_BOM)
    body = source[len(_BOM):] if bom else source
    lines = _lines(body)
    for number, raw in enumerate(lines, start=1):
        line = raw.decode("latin-1")  # the cookie itself is ASCII
        match = _COOKIE.match(line)
        if match is not None:
            name = _normal_name(match.group(1))
            try:
                codecs.lookup(name)
            except LookupError:
                raise SyntaxError(f"unknown encoding: {name}", (None, number, 1, None)) from None
            if bom:
                if name != "utf-8":  # CPython compares the name: "utf8" is refused
                    raise SyntaxError(f"encoding problem: {name} with BOM", (None, number, 1, None))
                return "utf-8-sig", number
            return name, number
        if not _BLANK.match(line):
            break  # a cookie on line 2 counts only after a comment or blank line 1
    return ("utf-8-sig" if bom else "utf-8"), 0


def _normal_name(name: str) -> str:
    """CPython's get_normal_name (tokenize's ``_get_normal_name``)."""
    enc = name[:12].lower().replace("_", "-")
    if enc == "utf-8" or enc.startswith("utf-8-"):
        return "utf-8"
    if enc in ("latin-1", "iso-8859-1", "iso-latin-1") or \
            enc.startswith(("latin-1-", "iso-8859-1-", "iso-latin-1-")):
        return "iso-8859-1"
    return name


def _decode(source: bytes, encoding: str) -> Union[str, UnicodeDecodeError]:
    """The text, without a BOM; or the error, its offsets in ``source``."""
    bom = len(_BOM) if encoding == "utf-8-sig" else 0
    try:
        return source[bom:].decode("utf-8" if bom else encoding)
    except UnicodeDecodeError as exc:
        if bom:
            exc.start, exc.end = exc.start + bom, exc.end + bom
        return exc


def _byte_position(source: bytes, index: int, encoding: str) -> Tuple[int, int]:
    """Line and character column (1-based) of byte ``index``."""
    line, start = 1, 0
    for match in _NEWLINE_BYTES.finditer(source, 0, index):
        line, start = line + 1, match.end()
    if line == 1 and source.startswith(_BOM):
        start = len(_BOM)
    prefix = source[start:index].decode("utf-8" if encoding == "utf-8-sig" else encoding, "replace")
    return line, len(prefix) + 1


class _ScriptRecursionLimit:
    """The recursion limit a script's compilation runs under, whatever the
    caller's: on 3.11 it bounds how deep CPython's parser may nest, so a
    caller that raised it would accept what ``python file.py`` refuses. The
    depth is counted in Python frames, fewer than CPython counts when calls
    went through C: a refusal is checked again on a thread of its own."""

    saved = 0

    def __enter__(self) -> None:
        depth = 0
        frame = sys._getframe()
        while frame is not None:
            depth += 1
            frame = frame.f_back  # type: ignore[assignment]
        self.saved = sys.getrecursionlimit()
        sys.setrecursionlimit(depth + _SCRIPT_RECURSION_LIMIT)

    def __exit__(self, *exc: object) -> None:
        sys.setrecursionlimit(self.saved)


def parses(source: Union[bytes, str], path: str) -> None:
    """Raise what CPython's parser raises on ``source``, as it does compiling
    a script; the compiler's own refusals (``return`` outside a function) are
    not syntax errors here."""
    try:
        _parses(source, path)
    except RecursionError:
        if on_thread_named(_FRESH_THREAD):
            raise
        # The limit above is set from this thread's Python frames, and calls
        # through C count too: too deep a caller makes CPython refuse sooner.
        # A thread of its own starts at depth 0, as a script does.
        on_thread(lambda: _parses(source, path), name=_FRESH_THREAD, stack_bytes=_FRESH_STACK_BYTES)


def _parses(source: Union[bytes, str], path: str) -> None:
    with warnings.catch_warnings(), _ScriptRecursionLimit():
        # The file's own SyntaxWarnings (invalid escapes, `is` with a
        # literal) are not threadlint's to print.
        warnings.simplefilter("ignore")
        try:
            # A full compile skips building Python AST objects: about 20%
            # faster than PyCF_ONLY_AST on valid files, the common case.
            compile(source, path, "exec", dont_inherit=True)
        except Exception:  # noqa: BLE001 - the parser alone decides
            compile(source, path, "exec", flags=ast.PyCF_ONLY_AST, dont_inherit=True)


def check(path: str, source: bytes) -> Verdict:
    """CPython's verdict on ``source``; see the module's docstring."""
    try:
        encoding, cookie_line = detect_encoding(source)
    except SyntaxError as exc:  # compile() below refuses it too, in its words
        encoding, cookie_line = "utf-8", exc.lineno or 1
    try:
        parses(source, path)
    except SyntaxError as exc:
        return Verdict(encoding, _located(exc, path, source, encoding, cookie_line))
    except ValueError as exc:  # a NUL byte, before 3.12
        return Verdict(encoding, (*_nul_position(source, encoding), f"SyntaxError: {exc}"))
    except RecursionError as exc:
        return Verdict(encoding, (1, 1, f"RecursionError: {exc} (CPython cannot compile code "
                                        "nested this deeply)"))
    except MemoryError as exc:
        what = str(exc) or "Python source too complex to parse"
        return Verdict(encoding, (1, 1, f"MemoryError: {what} (CPython's parser ran out of stack)"))
    text = _decode(source, encoding)
    if isinstance(text, UnicodeDecodeError):
        # compile() lets undecodable bytes pass in a comment; libcst does not.
        line, col = _byte_position(source, text.start, encoding)
        if cookie_line or encoding == "utf-8-sig":
            # `python file.py` accepts them too after a cookie or a BOM.
            return Verdict(encoding, undecodable=(line, col, str(text)))
        bad = str(source[text.start:text.start + 1])[1:]
        return Verdict(encoding, (line, col, f"SyntaxError: Non-UTF-8 code starting with {bad}, but no "
                                             "encoding declared; see https://peps.python.org/pep-0263/ "
                                             "for details"))
    return Verdict(encoding)


def _nul_position(source: bytes, encoding: str) -> Tuple[int, int]:
    index = source.find(b"\0")
    return _byte_position(source, index, encoding) if index >= 0 else (1, 1)


def _located(exc: SyntaxError, path: str, source: bytes, encoding: str, cookie_line: int) -> Error:
    message = f"{type(exc).__name__}: {exc.msg}"  # IndentationError, TabError too
    if "null bytes" in str(exc.msg):
        return (*_nul_position(source, encoding), message)
    text = _decode(source, encoding)
    if isinstance(text, UnicodeDecodeError):
        if not exc.lineno:  # a declared encoding the bytes do not follow
            return (*_byte_position(source, text.start, encoding), message)
        # A string literal that does not decode: CPython's position.
        bom = len(_BOM) if encoding == "utf-8-sig" else 0
        replaced = source[bom:].decode("utf-8" if bom else encoding, "replace")
        return (*_existing(replaced, exc.lineno, exc.offset or 1), message)
    if not exc.lineno:  # the encoding declaration itself
        return max(cookie_line, 1), 1, message
    line, offset = exc.lineno, exc.offset or 1
    # Compiled from the decoded text, CPython counts the column in characters.
    try:
        parses(text, path)
    except SyntaxError as again:
        if again.lineno == line and again.msg == exc.msg and again.offset:
            offset = again.offset
    except Exception:  # noqa: BLE001 - keep the first answer
        pass
    return (*_existing(text, line, offset), message)


def _existing(text: str, line: int, offset: int) -> Tuple[int, int]:
    """The nearest position that exists: the line within the file, the column
    within the line or just past its end (a byte offset past the end is
    converted to characters)."""
    starts = [0] + [match.end() for match in _NEWLINE.finditer(text)]
    line = min(max(line, 1), len(starts))
    end = _NEWLINE.search(text, starts[line - 1])
    content = text[starts[line - 1]:end.start() if end else len(text)]
    if offset > len(content) + 1:
        offset = len(content.encode("utf-8")[:offset - 1].decode("utf-8", "ignore")) + 1
    return line, min(max(offset, 1), len(content) + 1)
