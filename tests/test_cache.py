"""The cache's key, place, layout and upkeep (hostile entries: test_cache_hostile.py)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterator, List

import pytest

from threadlint import cache as cache_module
from threadlint import runner
from threadlint.cache import Cache
from threadlint.settings import Settings

SETTINGS = Settings(root="/", select=("TL1",))
SOURCE = b"import threading\n\nthreading.Thread(target=print, args=(1)).start()\n"


@pytest.fixture(autouse=True)
def fresh_environment() -> Iterator[None]:
    cache_module.environment.cache_clear()
    yield
    cache_module.environment.cache_clear()


def _linted(tmp_path: Path, cache: Cache, monkeypatch) -> List[str]:
    """Run over jobs.py; the files actually linted (not answered by the cache)."""
    linted: List[str] = []
    real = runner.lint_source

    def recording(path, *args, **kwargs):
        linted.append(path)
        return real(path, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(runner, "lint_source", recording)
        [(result, _)] = runner.run([str(tmp_path / "jobs.py")], SETTINGS, False, "-", jobs=1, cache=cache)
    assert [f.code for f in result.findings] == ["TL101"]
    return linted


@pytest.mark.parametrize("change", ["python", "implementation", "libcst"])
def test_an_entry_is_only_served_to_the_python_and_libcst_that_computed_it(
        tmp_path: Path, monkeypatch, change: str) -> None:
    (tmp_path / "jobs.py").write_bytes(SOURCE)
    cache = Cache(str(tmp_path / "cache"))
    assert _linted(tmp_path, cache, monkeypatch) == [str(tmp_path / "jobs.py")]
    assert _linted(tmp_path, cache, monkeypatch) == []  # a hit
    if change == "python":  # e.g. a TL999 under 3.11 for code valid in 3.12
        monkeypatch.setattr(sys, "version_info", (*sys.version_info[:1], sys.version_info[1] + 1, 0))
        monkeypatch.setattr(sys, "version", "3.99.0 (simulated)")
    elif change == "implementation":
        monkeypatch.setattr(sys.implementation, "name", "pypy")
    else:
        monkeypatch.setattr(cache_module, "_libcst_version", lambda: "0.0.1")
    cache_module.environment.cache_clear()
    assert _linted(tmp_path, cache, monkeypatch) == [str(tmp_path / "jobs.py")]
