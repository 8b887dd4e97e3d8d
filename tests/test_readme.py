"""The README's "Output formats" examples are real: each ``$ threadlint ...``
block is run and its output compared (a JSON block may be an excerpt: every
key and list item it shows must be in the real output, in order)."""

from __future__ import annotations

import json
import re
import shlex
from typing import Any, List, Tuple

import pytest

from conftest import ROOT, run_cli

_BLOCK = re.compile(r"```console\n\$ threadlint (?P<args>[^\n]*)\n(?P<output>.*?)```", re.DOTALL)


def output_examples() -> List[Tuple[str, str]]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n### Output formats\n", 1)[1].split("\n## ", 1)[0]
    return [(match["args"], match["output"]) for match in _BLOCK.finditer(section)]


def contains(real: Any, shown: Any) -> bool:
    """``shown`` is ``real`` with some keys or trailing list items left out."""
    if isinstance(shown, dict):
        return isinstance(real, dict) and all(k in real and contains(real[k], v) for k, v in shown.items())
    if isinstance(shown, list):
        return isinstance(real, list) and len(shown) <= len(real) and all(
            contains(r, s) for r, s in zip(real, shown))
    return bool(real == shown)


def test_every_format_has_an_example() -> None:
    formats = {args.split("--output-format ")[1].split()[0] if "--output-format" in args else "concise"
               for args, _ in output_examples()}
    assert formats == {"concise", "full", "json", "json-lines", "github", "gitlab", "junit", "sarif",
                       "pylint"}


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One cache for the examples (users have the cache on): the rest of the
    project is summarised once, not once per example."""
    return str(tmp_path_factory.mktemp("readme-cache"))


@pytest.mark.parametrize("args,shown", output_examples(), ids=lambda value: str(value)[:40])
def test_readme_output_example(args: str, shown: str, shared_cache: str) -> None:
    proc = run_cli(["--isolated", "--cache-dir", shared_cache, *shlex.split(args)], cwd=ROOT)
    assert (proc.returncode, proc.stderr) == (1, b"")
    real = proc.stdout.decode("utf-8")
    if shown.lstrip().startswith(("[", "{")) and "json-lines" not in args:
        assert contains(json.loads(real), json.loads(shown))
    else:
        assert real == shown
