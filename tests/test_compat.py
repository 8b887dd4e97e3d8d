"""The libcst internals threadlint relies on (threadlint/compat.py) still
behave like libcst's public API: an upgrade that breaks one fails here."""

from __future__ import annotations

import random
import sysconfig
from pathlib import Path

import libcst as cst
import pytest
from libcst.metadata import MetadataWrapper, PositionProvider

from threadlint import compat

SOURCE = (Path(sysconfig.get_paths()["stdlib"]) / "threading.py").read_bytes()


def test_unvalidated_parse_builds_the_same_tree_and_restores_validation() -> None:
    assert compat.parse_unvalidated(SOURCE).deep_equals(cst.parse_module(SOURCE))
    with pytest.raises(cst.CSTValidationError):
        cst.Name("not a name")  # validation is back for nodes built by hand


def test_unvalidated_parse_restores_validation_when_the_parse_fails() -> None:
    with pytest.raises(cst.ParserSyntaxError):
        compat.parse_unvalidated(b"def (:\n")
    with pytest.raises(cst.CSTValidationError):
        cst.Name("not a name")


def test_module_ranges_are_libcsts_own() -> None:
    """The shortcut around MetadataWrapper.resolve gives libcst's exact ranges."""
    module = cst.parse_module(SOURCE)
    ours = compat.module_ranges(module)
    theirs = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    assert len(ours) == len(theirs) > 10_000
    assert all(ours[node] == theirs[node] for node in theirs)


def test_statement_ranges_match_the_module_ranges_of_the_same_statement() -> None:
    """A top-level statement generated alone has the module's ranges, shifted
    by the line it starts on."""
    module = cst.parse_module(SOURCE)
    theirs = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    statements = [s for s in module.body if isinstance(s, (cst.ClassDef, cst.FunctionDef))]
    for statement in random.Random(9).sample(statements, 5):
        generated = compat.statement_ranges(module, statement, [])
        assert generated is not None, "this libcst lacks PositionProvidingCodegenState"
        code, ranges = generated
        assert code.strip() and set(ranges) >= {statement}
        shift = theirs[statement].start.line - ranges[statement].start.line
        for node, code_range in ranges.items():
            assert (code_range.start.line + shift, code_range.start.column) == \
                (theirs[node].start.line, theirs[node].start.column)
