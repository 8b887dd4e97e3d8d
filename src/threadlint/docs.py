"""The rule documentation as reporters and ``docs/rules.md`` show it.

Each rule's docstring is its documentation (What it does / Why is this bad? /
Example / Use instead / Fix safety / Known limitations). ``docs/rules.md`` is
generated from them (``tests/test_docs.py`` fails when it is stale and
rewrites it with ``--update-snapshots``), and every finding's documentation
URL points at the rule's section there. Nothing here imports libcst until a
rule's docstring is asked for.
"""

from __future__ import annotations

import inspect
import re
from typing import Dict, List

#: Where the rule documentation lives, from the repository's root.
DOCS_PATH = "docs/rules.md"

_HEADING = re.compile(r"^## (.+)$", re.MULTILINE)


def anchor(code: str, name: str) -> str:
    """The anchor GitHub (and most Markdown renderers) give the heading
    ``## TL101 thread-args-not-tuple``: lower case, spaces to hyphens."""
    return f"{code} {name}".lower().replace(" ", "-")


def url(code: str, name: str) -> str:
    """The documentation of a rule, as a path from the repository's root."""
    return f"{DOCS_PATH}#{anchor(code, name)}"


def rule_doc(code: str) -> str:
    """A rule's documentation (its docstring, dedented), "" for an unknown code."""
    from threadlint.rules import RULES_BY_CODE  # only here: it imports libcst

    rule = RULES_BY_CODE.get(code)
    return inspect.cleandoc(rule.__doc__ or "") if rule is not None else ""


def sections(doc: str) -> Dict[str, str]:
    """The ``## Title`` sections of a rule's documentation, by title."""
    parts = _HEADING.split(doc)
    return {title.strip(): body.strip() for title, body in zip(parts[1::2], parts[2::2])}


def rules_markdown() -> str:
    """The text of ``docs/rules.md``."""
    from threadlint.rules import ALL_RULES

    out: List[str] = [
        "# threadlint rules\n",
        "Generated from the rules' docstrings by `python3 -m pytest tests/test_docs.py "
        "--update-snapshots`; `threadlint --explain CODE` prints the same text. Every "
        "finding's documentation URL points at its rule's section here.\n",
    ]
    for rule in ALL_RULES:
        fixable = " (fixable)" if rule.fixable else ""
        out.append(f"## {rule.code} {rule.name}\n")
        out.append(f"{rule.summary}{fixable}\n")
        doc = inspect.cleandoc(rule.__doc__ or "")
        out.append(_HEADING.sub(r"### \1", doc) + "\n")
    return "\n".join(out)
