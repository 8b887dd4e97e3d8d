"""Messages quote the source as the user wrote it and say what to do."""

from __future__ import annotations

import libcst as cst

from threadlint.engine import lint_source
from threadlint.rules.base import quote
from threadlint.settings import Settings

SETTINGS = Settings(root="/", select=("TL101", "TL201", "TL301"))


def messages(source: str) -> list:
    result = lint_source("jobs.py", source.encode(), SETTINGS)
    assert result.errors == []
    return [(f.line, f.code, f.message) for f in result.findings]


def test_tl201_quotes_the_call_as_written_so_the_tl101_bug_stays_visible() -> None:
    found = messages("import threading\n\n"
                     "def go(url):\n"
                     "    threading.Thread(target=print, args=(url)).start()\n")
    assert [(line, code) for line, code, _ in found] == [(4, "TL201"), (4, "TL101")]
    assert found[0][2].startswith("thread `threading.Thread(target=print, args=(url))` is started "
                                  "with no handle")


def test_quote_keeps_parentheses_and_spacing_and_drops_comments_and_line_breaks() -> None:
    call = cst.parse_expression("f(  a,  # first\n    (b),\n    c='x  y',\n)")
    assert quote(call) == "f(  a, (b), c='x  y',)"
    assert quote(cst.parse_expression("(url)")) == "(url)"
    assert quote(cst.parse_expression("g(" + "x, " * 30 + ")"), 20) == "g(x, x, x, x, x, ..."


def test_tl301_says_what_to_do() -> None:
    found = messages("import threading\n\nhits = 0\n\n"
                     "def handle():\n    global hits\n    hits += 1\n\n"
                     "threading.Thread(target=handle).start()\n")
    tl301 = [message for _, code, message in found if code == "TL301"]
    assert tl301 == ["global 'hits' mutated in thread target 'handle' without a lock, so concurrent "
                     "updates can be lost: hold one lock that every thread shares (a module-level "
                     "`threading.Lock()`, `with lock:`) around each change and read of it"]
