"""Fetch the pinned package corpus (bench/corpus.toml) and list its source trees.

    python bench/corpus.py fetch     # download + unpack into bench/.corpus/
    python bench/corpus.py paths     # print one directory per package
    python bench/corpus.py stdlib    # print the running Python's standard library directory
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import tempfile
import zipfile
from pathlib import Path
from typing import List

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

HERE = Path(__file__).resolve().parent
CORPUS_DIR = HERE / ".corpus"


def packages() -> List[dict]:
    with open(HERE / "corpus.toml", "rb") as handle:
        return tomllib.load(handle)["package"]


def package_dir(pkg: dict) -> Path:
    return CORPUS_DIR / f"{pkg['name'].lower()}-{pkg['version']}"


def fetch() -> List[Path]:
    CORPUS_DIR.mkdir(exist_ok=True)
    (CORPUS_DIR / ".gitignore").write_text("*\n")
    dirs = []
    for pkg in packages():
        target = package_dir(pkg)
        dirs.append(target)
        if target.is_dir():
            continue
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary", ":all:",
                 "-d", tmp, f"{pkg['name']}=={pkg['version']}"],
                check=True,
            )
            wheels = list(Path(tmp).glob("*.whl"))
            if not wheels:
                raise SystemExit(f"no wheel downloaded for {pkg['name']}")
            staging = target.with_suffix(".partial")
            with zipfile.ZipFile(wheels[0]) as archive:
                members = [m for m in archive.namelist() if m.endswith(".py")]
                archive.extractall(staging, members)
            os.replace(staging, target)
    return dirs


def stdlib() -> str:
    return sysconfig.get_paths()["stdlib"]


def main(argv: List[str]) -> int:
    command = argv[0] if argv else "paths"
    if command == "fetch":
        for path in fetch():
            print(path)
    elif command == "paths":
        for pkg in packages():
            print(package_dir(pkg))
    elif command == "stdlib":
        print(stdlib())
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
