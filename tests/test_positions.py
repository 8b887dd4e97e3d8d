"""Positions from generating only the statements that hold findings are
exactly libcst's PositionProvider ranges, or the module's ranges are used."""

from __future__ import annotations

import sysconfig
from pathlib import Path
from typing import List

import libcst as cst
import pytest

from threadlint import positions
from threadlint.walk import Recording, walk

SOURCES = {
    "decorated": (
        "import threading\n"
        "\n"
        "# a comment before the class\n"
        "@decorate\n"
        "# between decorators\n"
        "@other(1,\n"
        "       2)\n"
        "class Worker(threading.Thread):\n"
        "    '''Doc.'''\n"
        "\n"
        "    # leading comment of run\n"
        "    def run(self):\n"
        "        x = 1; y = [\n"
        "            x,\n"
        "        ]\n"
        "        return y\n"
        "\n"
        "    @property\n"
        "    def name(self): return 'w'\n"
        "\n"
        "\n"
        "def main():\n"
        "    if True:\n"
        "        threading.Thread(target=print, args=(1)).start()\n"
        "class Small: pass\n"
        "x = 1; z = 2;\n"
    ),
    "tabs": "class A:\n\tdef f(self):\n\t\treturn (1,\n\t\t\t2)\n\n\tg = f\n",
    "crlf": "import os\r\n\r\nclass A:\r\n    def f(self):\r\n        return os.sep\r\n",
    "no final newline": "class A:\n    def f(self):\n        return 1",
    "bom": "\ufeffimport os\nclass A:\n    x = os.sep\n",
    "async and match": (
        "async def f(v):\n"
        "    match v:\n"
        "        case [a, *rest]:\n"
        "            return a\n"
        "    async with v as w:\n"
        "        await w\n"
    ),
}


def _code_nodes(module: cst.Module, recording: Recording) -> List[cst.CSTNode]:
    return [node for node, leaving in zip(recording.nodes, recording.leaving)
            if not leaving and node is not module]


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_each_node_alone_gets_libcsts_range(name: str) -> None:
    source = SOURCES[name].encode("utf-8")
    module = cst.parse_module(source)
    recording = Recording(())
    walk(module, [], record=recording)
    full = positions.module_ranges(module)
    nodes = _code_nodes(module, recording)
    assert len(nodes) > 5
    for node in nodes:
        assert positions.spans(module, source, [node], recording) == {node: positions._span(full[node])}
    assert positions.spans(module, source, nodes, recording) == \
        {node: positions._span(full[node]) for node in nodes}


def test_shortcut_is_taken_on_ordinary_code_and_refused_when_the_text_differs() -> None:
    source = (Path(sysconfig.get_paths()["stdlib"]) / "threading.py").read_bytes()
    module = cst.parse_module(source)
    recording = Recording(())
    walk(module, [], record=recording)
    nodes = _code_nodes(module, recording)[5000:5003]
    assert positions._statement_spans(module, source, nodes, recording) is not None
    # A final line without its newline: the generated statement ends in one,
    # so the check fails and the module's own ranges answer.
    bare = SOURCES["no final newline"].encode()
    bare_module = cst.parse_module(bare)
    bare_recording = Recording(())
    walk(bare_module, [], record=bare_recording)
    last = _code_nodes(bare_module, bare_recording)[-1]
    assert positions._statement_spans(bare_module, bare, [last], bare_recording) is None


def test_a_failing_shortcut_falls_back_to_the_modules_ranges(monkeypatch) -> None:
    """If a libcst release changes what the shortcut relies on, findings keep
    their positions (the whole module's ranges answer)."""
    source = SOURCES["decorated"].encode()
    module = cst.parse_module(source)
    recording = Recording(())
    walk(module, [], record=recording)
    node = _code_nodes(module, recording)[-1]

    def broken(*args, **kwargs):
        raise AttributeError("'PositionProvidingCodegenState' has no attribute 'tokens'")

    monkeypatch.setattr(positions, "_generate", broken)
    full = positions.module_ranges(module)
    assert positions.spans(module, source, [node], recording) == {node: positions._span(full[node])}
