"""The values the engine hands back: findings and per-file errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Tuple

#: Another place a finding is about: (line, column, what is there).
Related = Tuple[int, int, str]


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
