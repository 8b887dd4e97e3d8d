"""The flake8 plugin, run by real flake8 through the entry point that
pyproject.toml declares (installed here as a dist-info directory on
PYTHONPATH, ahead of any installed threadlint, whose entry points may be
another checkout's)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest

from threadlint.flake8_plugin import settings_for, source_bytes

from conftest import ROOT, run_cli

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

pytest.importorskip("flake8")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def flake8_env(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, str]:
    """An environment where flake8 finds threadlint's entry point, as an
    installed threadlint would declare it."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extensions = project["entry-points"]["flake8.extension"]
    site = tmp_path_factory.mktemp("site")
    dist = site / "threadlint-0.0.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: threadlint\nVersion: 0.0.0\n")
    (dist / "entry_points.txt").write_text(
        "[flake8.extension]\n" + "".join(f"{name} = {value}\n" for name, value in extensions.items()))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(ROOT / "src"), env.get("PYTHONPATH", "")])
    return env


def flake8(args: List[str], cwd: Path, env: Dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flake8", "--isolated", *args], cwd=str(cwd),
                          env=env, capture_output=True, timeout=120)


def threadlint(args: List[str], cwd: Path) -> subprocess.CompletedProcess:
    return run_cli(["--no-cache", *args], cwd=cwd)


def test_entry_point_is_the_plugin() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["entry-points"]["flake8.extension"] == {"TL": "threadlint.flake8_plugin:Plugin"}


def test_flake8_reports_what_threadlint_reports_on_the_tl101_fixture(flake8_env) -> None:
    expected = threadlint(["--isolated", "fixtures/TL101.py"], ROOT)
    assert expected.returncode == 1 and expected.stderr == b""
    proc = flake8(["--select", "TL", "fixtures/TL101.py"], ROOT, flake8_env)
    assert proc.stderr == b""
    assert proc.returncode == 1
    assert proc.stdout.decode().splitlines() == expected.stdout.decode().splitlines()
    assert len(proc.stdout.splitlines()) == 34


@pytest.mark.parametrize("name", ["TL201.py", "TL305.py", "TL900.py", "TL999_syntax.py"])
def test_flake8_and_threadlint_agree_on_other_fixtures(flake8_env, name: str) -> None:
    expected = threadlint(["--isolated", f"fixtures/{name}"], ROOT).stdout.decode().splitlines()
    proc = flake8(["--select", "TL", f"fixtures/{name}"], ROOT, flake8_env)
    shown = proc.stdout.decode().splitlines()
    if name.startswith("TL999"):
        # flake8 does not run plugins on a file its own parser rejects: E999 instead.
        assert shown == [] and expected
        return
    assert shown == expected and expected


def test_noqa_encoding_and_selection(tmp_path: Path, flake8_env) -> None:
    source = (
        "# -*- coding: latin-1 -*-\n"
        "# threadlint: noqa: TL201\n"
        "import threading\n"
        "threading.Thread(target=print, args=('\xe9t\xe9')).start()\n"
        "threading.Thread(target=print, args=(1)).start()  # noqa: TL101\n"
        "threading.Thread(\n    target=print,\n    args=(2),\n).start()  # noqa: TL101\n"
        "x = 1  # noqa: TL102\n"
    )
    (tmp_path / "jobs.py").write_bytes(source.encode("latin-1"))
    expected = threadlint(["--isolated", "jobs.py"], tmp_path).stdout.decode("utf-8").splitlines()
    assert [line.split(" ")[1] for line in expected] == ["TL101", "TL900"]
    proc = flake8(["--select", "TL", "jobs.py"], tmp_path, flake8_env)
    assert proc.stdout.decode("utf-8").splitlines() == expected
    # flake8's selection decides what is shown; the engine ran every rule.
    proc = flake8(["--select", "TL1", "jobs.py"], tmp_path, flake8_env)
    assert proc.stdout.decode("utf-8").splitlines() == expected[:1]
    proc = flake8(["--select", "TL", "--extend-ignore", "TL900", "jobs.py"], tmp_path, flake8_env)
    assert proc.stdout.decode("utf-8").splitlines() == expected[:1]
    proc = flake8(["--select", "TL", "--per-file-ignores", "jobs.py:TL9", "jobs.py"], tmp_path, flake8_env)
    assert proc.stdout.decode("utf-8").splitlines() == expected[:1]


def test_configuration_is_read_and_a_bad_one_is_one_line(tmp_path: Path, flake8_env) -> None:
    (tmp_path / "jobs.py").write_text("import threading\nthreading.Thread(args=(1)).start()\n")
    (tmp_path / "pyproject.toml").write_text("[tool.threadlint]\nselect = ['TL2']\n")
    proc = flake8(["--select", "TL", "jobs.py"], tmp_path, flake8_env)
    # threadlint's own select does not hide TL101 from flake8: flake8 selects.
    assert [line.split(" ")[1] for line in proc.stdout.decode().splitlines()] == ["TL201", "TL101"]
    (tmp_path / "pyproject.toml").write_text("[tool.threadlint]\nbogus = 1\n")
    proc = flake8(["--select", "TL", "jobs.py"], tmp_path, flake8_env)
    assert proc.returncode != 0
    assert b"Traceback" not in proc.stdout + proc.stderr
    assert "[tool.threadlint] unknown key 'bogus'" in proc.stdout.decode().splitlines()[0]


def test_settings_keep_the_options_and_select_everything(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        "[tool.threadlint]\nselect = ['TL2']\nignore = ['TL201']\nguarded-ratio = 0.5\n"
        "contracts-from-prose = false\nper-file-ignores = { 'x.py' = ['TL1'] }\n")
    settings = settings_for(str(tmp_path))
    assert (settings.guarded_ratio, settings.contracts_from_prose) == (0.5, False)
    assert settings.enabled_codes("x.py") == settings.enabled_codes("y.py")
    assert {"TL101", "TL201", "TL900"} <= settings.enabled_codes("x.py")


def test_source_bytes_honour_the_coding_cookie() -> None:
    lines = ["# coding: latin-1\n", "x = 'é'\n"]
    assert source_bytes(lines) == "".join(lines).encode("latin-1")
    assert source_bytes(["x = 'é'\n"]) == "x = 'é'\n".encode()
