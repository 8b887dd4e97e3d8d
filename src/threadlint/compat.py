"""The libcst internals threadlint relies on, in one place.

Two speed-ups reach below libcst's public API:

- :func:`parse_unvalidated` parses without each node's ``__post_init__``
  validation (the parser only builds valid nodes; about 12% of the parse);
- :func:`module_ranges` and :func:`statement_ranges` compute positions with
  ``PositionProvider``'s own code-generation step, for the whole module
  without a batched visit, or for one statement alone.

``tests/test_compat.py`` checks each against libcst's public behaviour, so an
upgrade that moves these internals fails there, loudly, rather than giving
wrong positions. Each function also falls back to the public API when the
internal it wants is missing.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Dict, List, Mapping, Optional, Tuple, cast

import libcst as cst
from libcst.metadata import (
    CodeRange,
    MetadataWrapper,
    PositionProvider,
    WhitespaceInclusivePositionProvider,
)

try:
    from libcst.metadata.position_provider import PositionProvidingCodegenState
except ImportError:  # pragma: no cover - a libcst that moved it
    PositionProvidingCodegenState = None  # type: ignore[assignment,misc]


def _skip_validation(self: cst.CSTNode) -> None:
    return None


@lru_cache(maxsize=16)
def _config(encoding: Optional[str]) -> cst.PartialParserConfig:
    if encoding is None:
        return cst.PartialParserConfig()
    return cst.PartialParserConfig(encoding=encoding)


def parse_unvalidated(source: bytes, encoding: Optional[str] = None) -> cst.Module:
    """``libcst.parse_module`` without re-validating every node it builds.

    ``encoding`` is the one CPython reads the bytes with (see
    :mod:`threadlint.verdict`); without it libcst detects one itself, and its
    detection splits lines on ``\\n`` only. Nodes built later, such as fixes,
    are validated as usual. The switch is process-wide for the length of the
    parse: threadlint lints one file at a time per process.
    """
    config = _config(encoding)
    node_class = cst.CSTNode
    validate = node_class.__dict__.get("__post_init__")
    if validate is None:  # a libcst without the hook: nothing to skip
        return cst.parse_module(source, config)
    node_class.__post_init__ = _skip_validation  # type: ignore[method-assign]
    try:
        return cst.parse_module(source, config)
    finally:
        node_class.__post_init__ = validate  # type: ignore[method-assign]


def module_ranges(module: cst.Module) -> Mapping[cst.CSTNode, CodeRange]:
    """libcst's PositionProvider ranges for every node of ``module``.

    Resolving through a MetadataWrapper also runs a full batched visit of the
    tree for the (here empty) set of batchable providers: 40% of the cost on
    large files. The provider's own generation step skips it.
    """
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    generate = getattr(PositionProvider(), "_gen", None)
    if generate is not None:
        try:
            return generate(wrapper)
        except (AttributeError, TypeError):
            pass
    return wrapper.resolve(PositionProvider)


def module_extents(module: cst.Module) -> Mapping[cst.CSTNode, CodeRange]:
    """The whole text each node of ``module`` generates (its parentheses, a
    statement's leading lines and indentation): what a fix replaces. Only
    files being fixed pay for it."""
    return MetadataWrapper(module, unsafe_skip_copy=True).resolve(WhitespaceInclusivePositionProvider)


def statement_ranges(module: cst.Module, statement: cst.CSTNode,
                     indent: List[str]) -> Optional[Tuple[str, Dict[cst.CSTNode, CodeRange]]]:
    """Generate ``statement`` alone (inside blocks indented by ``indent``, with
    ``module``'s default indent and newline): its code and the range of each
    of its nodes, counted from its own first line. None when this libcst
    lacks the internals."""
    if PositionProvidingCodegenState is None:
        return None
    provider = PositionProvider()
    provider._computed = {}  # what BaseMetadataProvider._gen sets up
    state = PositionProvidingCodegenState(default_indent=module.default_indent,
                                          default_newline=module.default_newline,
                                          provider=provider)
    state.indent_tokens.extend(indent)
    statement._codegen(state)
    # The provider stores each node's CodeRange (never a lazy value) in _computed.
    return "".join(state.tokens), cast(Dict[cst.CSTNode, CodeRange], dict(provider._computed))


def docstring(node: cst.FunctionDef) -> Optional[str]:
    """``node.get_docstring()``, or None when the literal cannot be evaluated
    (libcst evaluates it with :func:`ast.literal_eval`, which rejects what the
    tokenizer let through, such as a NUL byte)."""
    try:
        return node.get_docstring()
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None
