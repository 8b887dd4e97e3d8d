"""The values the engine hands back: findings and per-file errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

#: Another place a finding is about: (line, column, what is there).
Related = Tuple[int, int, str]
#: A step of the way a thread gets to a finding, maybe in another file:
#: (path, line, column, what is there); line 0 when it is not known.
Step = Tuple[str, int, int, str]

#: How sure a fix is to keep the code's meaning (ruff's terms): "safe" fixes
#: keep it and ``--fix`` applies them; "unsafe" ones may change behaviour and
#: are applied only with ``--unsafe-fixes``.
APPLICABILITIES = ("safe", "unsafe")


@dataclass(frozen=True)
class Edit:
    """Replace the text from (line, col) up to (end_line, end_col), 1-based and
    end-exclusive, with ``content``."""

    line: int
    col: int
    end_line: int
    end_col: int
    content: str


@dataclass(frozen=True)
class Fix:
    """A finding's fix: the edits, against the linted source, that make it."""

    applicability: str
    edits: Tuple[Edit, ...]


#: How many source lines a finding keeps for reporters.
MAX_SOURCE_LINES = 8


@dataclass(frozen=True, order=True)
class Finding:
    """One reported problem. ``line`` and ``col`` are 1-based (flake8's convention)."""

    path: str
    line: int
    col: int
    code: str
    message: str
    fixable: bool = False
    end_line: Optional[int] = None
    end_col: Optional[int] = None
    #: The other places of a two-place problem (the other side of a race...).
    related: Tuple[Related, ...] = ()
    # What reporters show, derived from the source: not part of the identity.
    #: The line a noqa comment goes on to silence this finding.
    noqa_line: Optional[int] = field(default=None, compare=False)
    #: The source lines ``line`` .. ``end_line`` (at most MAX_SOURCE_LINES).
    source: Tuple[str, ...] = field(default=(), compare=False)
    fix: Optional[Fix] = field(default=None, compare=False)
    #: How a thread started in another module gets here (whole-project
    #: analysis): where it starts, then each function it calls on the way.
    witness: Tuple[Step, ...] = field(default=(), compare=False)

    def concise(self) -> str:
        return f"{self.path}:{self.line}:{self.col}: {self.code} {self.message}"


@dataclass(frozen=True)
class FileError:
    """Something went wrong with a file itself (not a finding about its code)."""

    path: str
    message: str
    warning: bool = False  # the file was skipped for a known reason; exit status unaffected

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass
class LintResult:
    path: str
    findings: List[Finding] = field(default_factory=list)
    errors: List[FileError] = field(default_factory=list)
    fixed: List[Finding] = field(default_factory=list)
    fixed_source: Optional[bytes] = None
    #: With ``fixed_source``: the result without the fixes, reported
    #: instead when they cannot be written.
    unfixed: Optional[LintResult] = None
    #: With ``fixed_source``: the sha256 of the bytes that were linted; the
    #: fix is written only over a file that still holds them.
    linted_digest: Optional[str] = None
    #: With ``fixed_source``: the bytes that were linted, for ``--diff``.
    source: Optional[bytes] = None
    #: The file's summary for whole-project analysis (``threadlint.summary``),
    #: when it was parsed.
    summary: Optional[Dict[str, Any]] = field(default=None, compare=False)
