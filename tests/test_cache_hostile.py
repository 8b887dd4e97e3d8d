"""Every cache entry is untrusted input: anything odd is a miss, never an
error, a hang, a hidden finding or a write outside the cache directory."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable, List, Tuple

import pytest

from threadlint import runner
from threadlint.cache import LAYOUT, MAX_ENTRY_BYTES, Cache, cache_key
from threadlint.settings import Settings

from conftest import FIXTURES, record_linted

SETTINGS = Settings(root="/", select=("TL1",))
SOURCE = b"import threading\n\nthreading.Thread(target=print, args=(1)).start()\n"
posix_only = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX file types")


def _lint(tmp_path: Path, cache: Cache) -> List[Tuple[str, int, str]]:
    path = str(tmp_path / "jobs.py")
    [(result, unreadable)] = runner.run([path], SETTINGS, False, "-", jobs=1, cache=cache)
    assert not unreadable and result.errors == []
    return [(f.code, f.line, f.message) for f in result.findings]


@pytest.fixture
def primed(tmp_path: Path) -> Tuple[Cache, Path, List[Tuple[str, int, str]]]:
    """A cache holding the entry of jobs.py, its path, and the true findings."""
    (tmp_path / "jobs.py").write_bytes(SOURCE)
    cache = Cache(str(tmp_path / "cache"))
    truth = _lint(tmp_path, cache)
    assert [code for code, _, _ in truth] == ["TL101"]
    key = cache_key(SOURCE, SETTINGS.enabled_codes(str(tmp_path / "jobs.py")), False,
                    SETTINGS.options_key())
    entry = tmp_path / "cache" / LAYOUT / key[:2] / f"{key}.json"
    assert entry.is_file()
    return cache, entry, truth


def _edit(change: Callable[[dict], None]) -> Callable[[Path], None]:
    def plant(entry: Path) -> None:
        data = json.loads(entry.read_text(encoding="utf-8"))
        change(data)
        entry.write_text(json.dumps(data), encoding="utf-8")
    return plant


def _set_finding(field: str, value: object) -> Callable[[dict], None]:
    def change(data: dict) -> None:
        data["findings"][0][field] = value
    return change


HOSTILE = {
    "torn": lambda entry: entry.write_text('{"key": "someone else', encoding="utf-8"),
    "not-utf-8": lambda entry: entry.write_bytes(b"\xff\xfe{}"),
    "deeply-nested": lambda entry: entry.write_text("[" * 100_000 + "]" * 100_000),
    "nested-in-a-field": _edit(lambda d: d.update(findings=[[[[[[[[[]]]]]]]]])),
    "a-list": lambda entry: entry.write_text("[]"),
    "findings-a-dict": _edit(lambda d: d.update(findings={"line": 1})),
    "line-a-string": _edit(_set_finding("line", "3")),
    "line-a-bool": _edit(_set_finding("line", True)),
    "line-zero": _edit(_set_finding("line", 0)),
    "line-past-the-end": _edit(_set_finding("line", 10_000)),
    "code-not-enabled": _edit(_set_finding("code", "TL305")),
    "message-a-number": _edit(_set_finding("message", 7)),
    "related-malformed": _edit(_set_finding("related", [[1, 2]])),
    "extra-field": _edit(lambda d: d.update(planted=True)),
    "missing-field": _edit(lambda d: d.pop("errors")),
    "error-untyped": _edit(lambda d: d.update(errors=[{"message": None, "warning": "no"}])),
    "other-version": _edit(lambda d: d.update(version="0.0.0")),
    "other-source": _edit(lambda d: d.update(source=hashlib.sha256(b"other").hexdigest())),
    "other-settings": _edit(lambda d: d.update(settings="TL101\0check\0")),
    "other-key": _edit(lambda d: d.update(key="0" * 64)),
    "too-large": lambda entry: entry.write_bytes(b" " * (MAX_ENTRY_BYTES + 1)),
    "a-directory": lambda entry: (entry.unlink(), entry.mkdir()),
}


@pytest.mark.parametrize("plant", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_bad_entry_is_a_miss_and_is_rewritten(primed, tmp_path: Path, monkeypatch, plant) -> None:
    cache, entry, truth = primed
    plant(entry)
    linted = record_linted(monkeypatch, tmp_path / "linted.log")
    assert _lint(tmp_path, cache) == truth
    assert linted == [str(tmp_path / "jobs.py")]
    if entry.is_file():
        assert json.loads(entry.read_text(encoding="utf-8"))["findings"]  # rewritten


def test_an_intact_entry_is_a_hit(primed, tmp_path: Path, monkeypatch) -> None:
    cache, _, truth = primed
    linted = record_linted(monkeypatch, tmp_path / "linted.log")
    assert _lint(tmp_path, cache) == truth
    assert linted == []


@posix_only
def test_a_fifo_planted_as_an_entry_does_not_hang_the_run(primed, tmp_path: Path) -> None:
    _, entry, truth = primed
    entry.unlink()
    os.mkfifo(entry)
    # In a subprocess: a hang fails the test by its timeout, not the suite.
    script = (f"import sys; sys.path[:0] = {[str(Path(__file__).parent)]!r}\n"
              "from test_cache_hostile import Cache, Path, _lint\n"
              f"print(_lint(Path({str(tmp_path)!r}), Cache({str(tmp_path / 'cache')!r})))\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60,
                          cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode().strip() == repr(truth)


@posix_only
@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_a_link_to_a_device_is_a_miss(primed, tmp_path: Path, monkeypatch, device: str) -> None:
    cache, entry, truth = primed
    entry.unlink()
    entry.symlink_to(device)
    assert _lint(tmp_path, cache) == truth  # would read for ever if followed


@posix_only
@pytest.mark.parametrize("linked", ["entries", "layout"])
def test_links_inside_the_cache_never_lead_a_write_outside(tmp_path: Path, linked: str) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious").write_text("keep me\n")
    (tmp_path / "jobs.py").write_bytes(SOURCE)
    key = cache_key(SOURCE, SETTINGS.enabled_codes(str(tmp_path / "jobs.py")), False,
                    SETTINGS.options_key())
    root = tmp_path / "cache"
    root.mkdir()
    if linked == "layout":
        (root / LAYOUT).symlink_to(outside, target_is_directory=True)
    else:
        (root / LAYOUT).mkdir()
        (root / LAYOUT / key[:2]).symlink_to(outside, target_is_directory=True)
    (root / ".gitignore").symlink_to(outside / "precious")
    (root / "CACHEDIR.TAG").symlink_to(outside / "precious")
    cache = Cache(str(root))
    assert [code for code, _, _ in _lint(tmp_path, cache)] == ["TL101"]
    assert [code for code, _, _ in _lint(tmp_path, cache)] == ["TL101"]
    cache.prune(now=10 ** 10)  # prunes and clears never follow a link either
    cache.clear()
    assert sorted(p.name for p in outside.iterdir()) == ["precious"]
    assert (outside / "precious").read_text() == "keep me\n"


@posix_only
def test_an_entry_that_is_a_link_is_a_miss_and_is_replaced_not_followed(primed, tmp_path: Path,
                                                                     monkeypatch) -> None:
    cache, entry, truth = primed
    elsewhere = tmp_path / "elsewhere.json"
    shutil.move(str(entry), str(elsewhere))
    saved = elsewhere.read_bytes()
    entry.symlink_to(elsewhere)
    linted = record_linted(monkeypatch, tmp_path / "linted.log")
    assert _lint(tmp_path, cache) == truth
    assert linted  # a miss
    assert not entry.is_symlink() and elsewhere.read_bytes() == saved


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="chown needs root")
def test_an_entry_written_by_another_user_is_a_miss(primed, tmp_path: Path, monkeypatch) -> None:
    cache, entry, truth = primed
    data = json.loads(entry.read_text(encoding="utf-8"))
    data["findings"] = []  # what a hostile user of a shared cache would write
    entry.write_text(json.dumps(data), encoding="utf-8")
    os.chown(entry, 4321, 4321)
    linted = record_linted(monkeypatch, tmp_path / "linted.log")
    assert _lint(tmp_path, cache) == truth
    assert linted


@posix_only
def test_the_cache_directory_itself_may_be_a_link(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "jobs.py").write_bytes(SOURCE)
    (tmp_path / "real-cache").mkdir()
    (tmp_path / "cache").symlink_to(tmp_path / "real-cache", target_is_directory=True)
    truth = _lint(tmp_path, Cache(str(tmp_path / "cache")))
    linted = record_linted(monkeypatch, tmp_path / "linted.log")
    assert _lint(tmp_path, Cache(str(tmp_path / "cache"))) == truth
    assert linted == []  # a hit
    assert list((tmp_path / "real-cache").glob(f"{LAYOUT}/*/*.json"))


def test_a_warm_run_with_the_cli_agrees_after_hostile_entries(tmp_path: Path) -> None:
    shutil.copytree(FIXTURES, tmp_path / "src")
    command = [sys.executable, "-m", "threadlint", "--cache-dir", str(tmp_path / "cache"),
               "-j", "1", "src"]
    cold = subprocess.run(command, cwd=tmp_path, capture_output=True, timeout=120)
    entries = list((tmp_path / "cache").glob(f"{LAYOUT}/*/*.json"))
    assert entries
    for entry in entries:
        entry.write_text("[" * 50_000)
    warm = subprocess.run(command, cwd=tmp_path, capture_output=True, timeout=120)
    assert (warm.returncode, warm.stdout, warm.stderr) == (cold.returncode, cold.stdout, cold.stderr)
    assert cold.returncode == 1 and cold.stderr.startswith(b"Found ") and cold.stderr.count(b"\n") == 1
