"""--fix changes only what it fixes, and never loses a user's work.

- A fix is a byte splice into the original bytes: nothing outside the fixed
  span changes, even where libcst's code generation would re-render the rest
  of the module differently (``except OSError :``).
- A fix is written only over the bytes that were linted; what a rename would
  lose (links, owner, mode) is kept or the file is not fixed, and a fix not
  written keeps its finding.
- Workers die with their parent; temporary files do not outlive a run.
"""

from __future__ import annotations

import ast
import errno
import os
import random
import shutil
import signal
import stat
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from typing import List, Optional, Tuple

import pytest

from threadlint import cli, fixwrite
from threadlint.engine import lint_source
from threadlint.settings import Settings

from conftest import FIXTURES, run_cli

TL101_ONLY = Settings(root="/", select=("TL101",))
PIN = ["--select", "TL1,TL999"]

SPACED_EXCEPT = b"""\
import threading


def fetch(url):
    try:
        print(url)
    except OSError :
        pass


def start(url):
    threading.Thread(target=fetch, args=(url)).start()
"""
FIXABLE = b"import threading\n\nthreading.Thread(target=print, args=(1)).start()\n"
FIXED = FIXABLE.replace(b"args=(1)", b"args=(1,)")
FINDING = "jobs.py:3:38: TL101"


def tl(args: List[str], cwd: Path) -> subprocess.CompletedProcess:
    proc = run_cli(args, cwd=cwd)
    assert b"Traceback" not in proc.stderr, proc.stderr.decode(errors="replace")
    return proc


def err(proc: subprocess.CompletedProcess) -> List[str]:
    return proc.stderr.decode("utf-8", "backslashreplace").splitlines()


def out_codes(proc: subprocess.CompletedProcess) -> List[str]:
    return [line.split(" ")[0] + " " + line.split(" ")[1]
            for line in proc.stdout.decode().splitlines()]


# --------------------------------------------------------------------------- #
# Only the fixed span changes
# --------------------------------------------------------------------------- #

def test_the_fix_leaves_a_line_libcst_would_rewrite_alone() -> None:
    result = lint_source("jobs.py", SPACED_EXCEPT, TL101_ONLY, fix=True)
    assert result.fixed_source == SPACED_EXCEPT.replace(b"args=(url)", b"args=(url,)")
    assert b"except OSError :" in result.fixed_source
    assert result.errors == []


@pytest.mark.parametrize("encode", [
    lambda text: text.encode(),
    lambda text: text.replace("\n", "\r\n").encode(),
    lambda text: b"\xef\xbb\xbf" + text.encode(),
    lambda text: ("# -*- coding: latin-1 -*-\n" + text).encode("latin-1"),
    lambda text: text.rstrip("\n").encode(),
], ids=["lf", "crlf", "bom", "latin-1", "no-final-newline"])
def test_only_the_fixed_bytes_change_whatever_the_encoding(encode) -> None:
    text = ("import threading\nname = 'caf\xe9'\ntry:\n\tpass\nexcept (OSError, ValueError) :\n"
            "\tpass\nthreading.Thread(target=print, args=(name)).start()\n"
            "threading.Thread(target=print,\n    args=(  # the name\n        name\n    )).start()\n")
    fixed = text.replace("args=(name)", "args=(name,)").replace("        name\n", "        name,\n")
    result = lint_source("enc.py", encode(text), TL101_ONLY, fix=True)
    assert result.fixed_source == encode(fixed)
    assert len(result.fixed) == 2


def test_the_tl306_fix_replaces_only_its_statement() -> None:
    source = b"""\
import threading


class Sessions:
    def __init__(self):
        self._lock = threading.Lock()
        self._active = {}

    def open(self, sid, session):
        with self._lock:
            self._active[sid] = session

    def close(self, sid):
        try:
            pass
        except KeyError :
            pass
        # drop it
        if sid in self._active:
            del self._active[sid]
        return sid
"""
    result = lint_source("s.py", source, Settings(root="/", select=("TL306",)), fix=True)
    assert result.fixed_source == source.replace(
        b"        if sid in self._active:\n            del self._active[sid]\n",
        b"        self._active.pop(sid, None)\n")


def test_a_fix_on_a_line_libcst_rewrites_is_not_made_and_says_why() -> None:
    source = (b"import threading\ntry:\n    pass\n"
              b"except OSError :  threading.Thread(target=print, args=(1)).start()\n"
              b"threading.Thread(target=print, args=(2)).start()\n")
    result = lint_source("odd.py", source, TL101_ONLY, fix=True)
    assert result.fixed_source == source.replace(b"args=(2)", b"args=(2,)")
    assert [f.line for f in result.fixed] == [5]
    assert [f.line for f in result.findings] == [4]
    assert [(e.message, e.warning) for e in result.errors] == [
        (f"4:{result.findings[0].col}: TL101 not fixed: libcst does not reproduce the source "
         "around it exactly", True)]


MARK = "_threadlint_injected"


def _inject(source: bytes, seed: int) -> Optional[Tuple[bytes, bytes]]:
    """``source`` with a TL101 line before a few top-level statements and at
    the end, and what --fix must make of it (a comma more in each)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    lines = source.splitlines(keepends=True)
    starts = sorted({node.lineno for node in tree.body if node.lineno > 1})
    chosen = set(random.Random(seed).sample(starts, min(3, len(starts))))
    newline = b"\r\n" if lines and lines[0].endswith(b"\r\n") else b"\n"
    bad = f"import threading as _tl; _tl.Thread(target=print, args=({MARK}))".encode()
    good = bad.replace(b"))", b",))")
    injected, expected = [], []
    for number, line in enumerate(lines, 1):
        if number in chosen:
            injected.append(bad + newline)
            expected.append(good + newline)
        injected.append(line)
        expected.append(line)
    tail = b"" if not lines or lines[-1].endswith((b"\n", b"\r")) else newline
    injected.append(tail + bad + newline)
    expected.append(tail + good + newline)
    return b"".join(injected), b"".join(expected)


def _stdlib_files(every: int) -> List[Path]:
    root = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in root.rglob("*.py") if "site-packages" not in p.parts)
    # Two files libcst does not reproduce exactly (`except ... :`), always.
    known = [root / "webbrowser.py", root / "test" / "test_posix.py"]
    return [p for p in known if p.exists()] + files[::every]


def _check_injected(paths: List[Path]) -> int:
    checked = 0
    for path in paths:
        injected = _inject(path.read_bytes(), len(path.name))
        if injected is None:
            continue
        source, expected = injected
        try:
            compile(source, str(path), "exec", dont_inherit=True)
        except (SyntaxError, ValueError):
            continue  # an injection point inside a continuation line
        result = lint_source(str(path), source, TL101_ONLY, fix=True)
        if any("libcst cannot parse" in e.message for e in result.errors):
            continue
        assert result.fixed_source == expected, path
        checked += 1
    return checked


def test_fixes_over_a_stdlib_sample_change_nothing_else() -> None:
    assert _check_injected(_stdlib_files(every=400)) >= 5


@pytest.mark.slow
def test_fixes_over_the_stdlib_change_nothing_else() -> None:
    """Every 15th file of the standard library (the whole of it, 1,790 files,
    gave no difference either when this was written: it takes 20 minutes)."""
    assert _check_injected(_stdlib_files(every=15)) >= 100


# --------------------------------------------------------------------------- #
# Writing: only over the linted bytes, keeping links, owner and mode
# --------------------------------------------------------------------------- #

def _fix_in_process(tmp_path: Path, monkeypatch, capsys, after_lint=None, args=None):
    """Run the CLI in-process; ``after_lint()`` runs between linting and writing."""
    real_run = cli.run

    def run_then(*a, **k):
        results = real_run(*a, **k)
        if after_lint is not None:
            after_lint()
        return results

    monkeypatch.setattr(cli, "run", run_then)
    monkeypatch.chdir(tmp_path)
    code = cli.main(args or ["-q", *PIN, "--no-cache", "--fix", "jobs.py"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err.splitlines()


def test_a_file_edited_during_the_run_is_not_overwritten(tmp_path: Path, monkeypatch, capsys) -> None:
    target = tmp_path / "jobs.py"
    target.write_bytes(FIXABLE)
    edited = FIXABLE + b"# the user's edit\n"
    code, out, errors = _fix_in_process(tmp_path, monkeypatch, capsys, lambda: target.write_bytes(edited))
    assert target.read_bytes() == edited
    assert code == 2
    assert errors == ["threadlint: error: jobs.py: changed since it was read: not fixed "
                      "(run threadlint again)"]
    assert out.startswith(FINDING + " ")  # the finding stays


def test_a_file_deleted_during_the_run_is_not_brought_back(tmp_path: Path, monkeypatch, capsys) -> None:
    target = tmp_path / "jobs.py"
    target.write_bytes(FIXABLE)
    code, out, errors = _fix_in_process(tmp_path, monkeypatch, capsys, target.unlink)
    assert not target.exists()
    assert code == 2
    assert errors == ["threadlint: error: jobs.py: deleted since it was read: not fixed"]
    assert out.startswith(FINDING + " ")


def test_a_failed_write_is_reported_and_keeps_the_finding(tmp_path: Path, monkeypatch, capsys) -> None:
    target = tmp_path / "jobs.py"
    target.write_bytes(FIXABLE)

    def disk_full(*args):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(fixwrite, "_fill", disk_full)
    code, out, errors = _fix_in_process(tmp_path, monkeypatch, capsys)
    assert target.read_bytes() == FIXABLE
    assert code == 2
    assert errors == ["threadlint: error: jobs.py: cannot write fix: No space left on device"]
    assert out.startswith(FINDING + " ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["jobs.py"], "a temporary file was left"


def test_a_read_only_file_is_not_fixed(tmp_path: Path) -> None:
    target = tmp_path / "jobs.py"
    target.write_bytes(FIXABLE)
    target.chmod(0o444)
    proc = tl([*PIN, "--fix", "jobs.py"], tmp_path)
    assert target.read_bytes() == FIXABLE
    assert stat.S_IMODE(target.stat().st_mode) == 0o444
    assert proc.returncode == 2
    assert err(proc) == ["threadlint: error: jobs.py: read-only: not fixed"]
    assert out_codes(proc) == [FINDING]


def test_a_read_only_directory_is_a_reported_failure(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    target = tmp_path / "pkg" / "jobs.py"
    target.write_bytes(FIXABLE)
    (tmp_path / "pkg").chmod(0o555)
    try:
        command = [sys.executable, "-m", "threadlint", "-q", *PIN, "--no-cache", "--fix", "pkg/jobs.py"]
        if os.access(tmp_path / "pkg", os.W_OK):  # root: drop the capability that ignores modes
            setpriv = shutil.which("setpriv")
            if setpriv is None:
                pytest.skip("running as a user that can write a read-only directory")
            caps = "-dac_override"
            command = [setpriv, f"--inh-caps={caps}", f"--bounding-set={caps}", "--", *command]
        proc = subprocess.run(command, cwd=tmp_path, capture_output=True, timeout=120,
                              env={**os.environ})
    finally:
        (tmp_path / "pkg").chmod(0o755)
    if b"setpriv" in proc.stderr:
        pytest.skip("setpriv cannot drop the capability here")
    assert target.read_bytes() == FIXABLE
    assert proc.returncode == 2
    assert err(proc) == ["threadlint: error: pkg/jobs.py: cannot write fix: Permission denied"]
    assert out_codes(proc) == ["pkg/" + FINDING]


def test_a_symlink_stays_a_link_and_its_target_is_fixed(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "impl.py"
    target.write_bytes(FIXABLE)
    (tmp_path / "jobs.py").symlink_to(target)
    proc = tl([*PIN, "--fix", "jobs.py"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "jobs.py").is_symlink()
    assert target.read_bytes() == FIXED
    assert err(proc) == []


def test_a_file_and_a_link_to_it_are_fixed_once(tmp_path: Path) -> None:
    (tmp_path / "jobs.py").write_bytes(FIXABLE)
    (tmp_path / "alias.py").symlink_to(tmp_path / "jobs.py")
    proc = tl([*PIN, "--fix", "jobs.py", "alias.py"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "jobs.py").read_bytes() == FIXED
    assert (tmp_path / "alias.py").is_symlink()


def test_a_hard_linked_file_is_not_fixed(tmp_path: Path) -> None:
    target = tmp_path / "jobs.py"
    target.write_bytes(FIXABLE)
    os.link(target, tmp_path / "backup.py.orig")
    proc = tl([*PIN, "--fix", "jobs.py"], tmp_path)
    assert target.read_bytes() == FIXABLE
    assert os.stat(target).st_ino == os.stat(tmp_path / "backup.py.orig").st_ino
    assert proc.returncode == 2
    assert err(proc) == ["threadlint: error: jobs.py: has 2 hard links, which replacing it "
                         "would split: not fixed"]
    assert out_codes(proc) == [FINDING]


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root")
def test_a_run_as_root_keeps_owner_group_and_mode(tmp_path: Path) -> None:
    target = tmp_path / "jobs.py"
    target.write_bytes(FIXABLE)
    os.chown(target, 4321, 8765)
    target.chmod(0o640)
    proc = tl([*PIN, "--fix", "jobs.py"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    info = target.stat()
    assert target.read_bytes() == FIXED
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (4321, 8765, 0o640)


def _xattrs_supported(path: Path) -> bool:
    try:
        os.setxattr(path, "user.threadlint-probe", b"1")
        os.removexattr(path, "user.threadlint-probe")
    except (AttributeError, OSError):
        return False
    return True


def test_extended_attributes_are_kept(tmp_path: Path) -> None:
    target = tmp_path / "jobs.py"
    target.write_bytes(FIXABLE)
    if not _xattrs_supported(target):
        pytest.skip("no user extended attributes here")
    os.setxattr(target, "user.origin", b"checked out by the build")
    proc = tl([*PIN, "--fix", "jobs.py"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert target.read_bytes() == FIXED
    assert os.getxattr(target, "user.origin") == b"checked out by the build"


def test_an_interrupted_write_leaves_no_temporary_file(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "jobs.py"
    target.write_bytes(FIXABLE)

    def interrupted(*args):
        raise KeyboardInterrupt  # Ctrl-C, or SIGTERM (cli turns it into SystemExit)

    monkeypatch.setattr(fixwrite, "_fill", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fixwrite.Writer().write(str(target), fixwrite.digest(FIXABLE), FIXED)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["jobs.py"]
    assert target.read_bytes() == FIXABLE


def test_an_owner_that_cannot_be_kept_refuses_the_fix(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "jobs.py"
    target.write_bytes(FIXABLE)

    def not_permitted(*args):
        raise PermissionError(errno.EPERM, "Operation not permitted")

    info = os.stat(target)
    monkeypatch.setattr(fixwrite.os, "fchown", not_permitted)
    foreign = os.stat_result((info.st_mode, info.st_ino, info.st_dev, info.st_nlink,
                              info.st_uid + 1, info.st_gid, info.st_size,
                              info.st_atime, info.st_mtime, info.st_ctime))
    fd = os.open(tmp_path / "temp", os.O_WRONLY | os.O_CREAT)
    try:
        with pytest.raises(fixwrite.FixNotWritten, match=r"owned by .* could not keep"):
            fixwrite._fill(fd, FIXED, str(target), foreign)
    finally:
        os.close(fd)


def test_stale_temporary_files_of_a_killed_run_are_removed(tmp_path: Path) -> None:
    (tmp_path / "jobs.py").write_bytes(FIXABLE)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    stale = tmp_path / f".threadlint-{dead}-0123456789abcdef.tmp"
    young = tmp_path / f".threadlint-{dead}-fedcba9876543210.tmp"
    running = tmp_path / f".threadlint-{os.getpid()}-00112233445566ff.tmp"
    legacy = tmp_path / ".threadlint-k2j4_x9a.tmp"
    other = tmp_path / ".threadlint-notes.tmp"
    for path in (stale, young, running, legacy, other):
        path.write_bytes(b"half a file")
    old = time.time() - 3600
    for path in (stale, running, legacy, other):
        os.utime(path, (old, old))
    proc = tl([*PIN, "--fix", "jobs.py"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in tmp_path.glob(".threadlint-*")) == sorted(
        p.name for p in (young, running, other))


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_die_when_their_parent_is_killed(tmp_path: Path) -> None:
    for copy in range(25):
        for fixture in FIXTURES.glob("*.py"):
            shutil.copy(fixture, tmp_path / f"c{copy}_{fixture.name}")
    proc = subprocess.Popen([sys.executable, "-m", "threadlint", "-j", "2", "--no-cache", "--fix",
                             str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    workers: List[int] = []
    while time.monotonic() < deadline and len(workers) < 2 and proc.poll() is None:
        workers = _children(proc.pid)
        time.sleep(0.02)
    assert len(workers) >= 2, "the pool never started"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_running(pid) for pid in workers):
        time.sleep(0.05)
    survivors = [pid for pid in workers if _running(pid)]
    for pid in survivors:
        os.kill(pid, signal.SIGKILL)
    assert survivors == []


def _stat_fields(pid: int) -> Optional[List[str]]:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _children(pid: int) -> List[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields is not None and int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(entry))
    return found


def _running(pid: int) -> bool:
    fields = _stat_fields(pid)
    return fields is not None and fields[0] != "Z"
