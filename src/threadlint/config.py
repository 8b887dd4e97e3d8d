"""Configuration files: ``threadlint.toml``, ``.threadlint.toml`` and
``[tool.threadlint]`` in pyproject.toml; finding them, reading them, checking them."""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from typing import Any, Callable, Dict, List, Optional, Tuple

from threadlint.project import parse_entry
from threadlint.settings import Settings, SettingsError, validate_patterns, validate_selectors

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on older Pythons only
    import tomli as tomllib

LIST_KEYS = ("select", "ignore", "extend-select", "exclude", "extend-exclude")
BOOL_KEYS = ("contracts-from-prose", "respect-gitignore", "force-exclude", "project")
RATIO_KEYS = ("guarded-ratio",)
#: Limits: a number at least 0 (0: no limit); integers only where the unit is.
LIMIT_KEYS = {"max-file-size": int, "file-timeout": float, "max-memory": int}
#: The files looked for in each directory, the first found winning (as ruff
#: prefers .ruff.toml to ruff.toml to pyproject.toml). The dedicated files hold
#: the keys at top level and always count; a pyproject.toml only with a
#: ``[tool.threadlint]`` table.
CONFIG_NAMES = (".threadlint.toml", "threadlint.toml", "pyproject.toml")
DEDICATED_NAMES = CONFIG_NAMES[:2]
KNOWN_KEYS = LIST_KEYS + ("per-file-ignores", "thread-entry") + BOOL_KEYS + RATIO_KEYS + tuple(LIMIT_KEYS)


def _read_toml(path: str) -> Dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except OSError as exc:
        raise SettingsError(f"{path}: cannot read configuration: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: invalid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise SettingsError(f"{path}: invalid TOML: not UTF-8: {exc}") from None
    except RecursionError:
        raise SettingsError(f"{path}: invalid TOML: nested too deeply to read") from None


def _section(data: Dict[str, Any], path: str, explicit: bool) -> Optional[Dict[str, Any]]:
    if os.path.basename(path) in DEDICATED_NAMES:
        return data
    tool = data.get("tool")
    if isinstance(tool, dict) and "threadlint" in tool:
        section = tool["threadlint"]
        if not isinstance(section, dict):
            raise SettingsError(f"{path}: [tool.threadlint] must be a table")
        return section
    if explicit and os.path.basename(path) != "pyproject.toml":
        return data  # a dedicated threadlint.toml holds the keys at top level
    return None


def config_in(directory: str) -> Optional[str]:
    """The configuration file of ``directory`` itself, if it has one."""
    for name in CONFIG_NAMES:
        candidate = os.path.join(directory, name)
        if os.path.isfile(candidate):
            if name in DEDICATED_NAMES:
                return candidate
            if _section(_read_toml(candidate), candidate, explicit=False) is not None:
                return candidate
    return None


def find_config(start: str) -> Optional[str]:
    """The nearest configuration file, from ``start`` upwards."""
    directory = os.path.abspath(start)
    while True:
        found = config_in(directory)
        if found is not None:
            return found
        parent = os.path.dirname(directory)
        if parent == directory:
            return None
        directory = parent


class Resolver:
    """The settings of each file: those of the nearest configuration file above
    it (a sub-project's own), else ``fallback`` (found from the current
    directory); ``adjust`` lays the command line over each file's settings."""

    def __init__(self, fallback: Settings, adjust: Callable[[Settings], Settings]) -> None:
        self._fallback = fallback
        self._adjust = adjust
        self._configs: Dict[str, Optional[str]] = {}
        self._loaded: Dict[str, Settings] = {}
        if fallback.config_path is not None:
            self._loaded[os.path.abspath(fallback.config_path)] = fallback

    def config_for(self, directory: str) -> Optional[str]:
        """The nearest configuration file at or above ``directory`` (cached)."""
        directory = os.path.abspath(directory)
        walked = []
        found: Optional[str] = None
        while True:
            if directory in self._configs:
                found = self._configs[directory]
                break
            walked.append(directory)
            found = config_in(directory)
            parent = os.path.dirname(directory)
            if found is not None or parent == directory:
                break
            directory = parent
        for item in walked:
            self._configs[item] = found
        return found

    def for_directory(self, directory: str) -> Settings:
        """The settings of the files directly in ``directory``."""
        config = self.config_for(directory)
        if config is None:
            return self._fallback
        key = os.path.abspath(config)
        if key not in self._loaded:
            self._loaded[key] = self._adjust(load_settings(config, explicit=False))
        return self._loaded[key]

    def for_path(self, path: str) -> Settings:
        absolute = os.path.abspath(path)
        return self.for_directory(absolute if os.path.isdir(absolute) else os.path.dirname(absolute))


def _string_list(value: Any, where: str, key: str) -> List[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise SettingsError(f"{where} {key}: expected a list of strings, "
                            f"got {type(value).__name__} {value!r}")
    return value


def load_settings(config_path: Optional[str], explicit: bool) -> Settings:
    """Settings from a config file (or the defaults when there is none)."""
    if config_path is None:
        return Settings()
    data = _read_toml(config_path)
    section = _section(data, config_path, explicit)
    dedicated = section is data  # keys at top level, not in [tool.threadlint]
    section = section or {}
    where = f"{config_path}:" if dedicated else f"{config_path}: [tool.threadlint]"
    for key in section:
        if key not in KNOWN_KEYS:
            raise SettingsError(f"{where} unknown key {key!r} (expected one of: {', '.join(KNOWN_KEYS)})")
    values: Dict[str, Any] = {}
    for key in LIST_KEYS:
        if key in section:
            items = _string_list(section[key], where, key)
            if key in ("select", "ignore", "extend-select"):
                items = list(validate_selectors(items, f"{where} {key}"))
            else:
                validate_patterns(items, f"{where} {key}")
            values[key.replace("-", "_")] = tuple(items)
    if "thread-entry" in section:
        entries = _string_list(section["thread-entry"], where, "thread-entry")
        for entry in entries:
            if parse_entry(entry) is None:
                raise SettingsError(f"{where} thread-entry: {entry!r} is not 'module:function', "
                                    "'module:Class.method', 'module:*' or 'module:Class.*'")
        values["thread_entry"] = tuple(entries)
    if "per-file-ignores" in section:
        table = section["per-file-ignores"]
        if not isinstance(table, dict):
            raise SettingsError(f"{where} per-file-ignores: expected a table of "
                                f"glob = [codes], got {type(table).__name__}")
        pairs: List[Tuple[str, Tuple[str, ...]]] = []
        validate_patterns(table, f"{where} per-file-ignores")
        for pattern, codes in table.items():
            codes = _string_list(codes, where, f"per-file-ignores.{pattern!r}")
            pairs.append((pattern, validate_selectors(codes, f"{where} per-file-ignores.{pattern!r}")))
        values["per_file_ignores"] = tuple(pairs)
    for key in BOOL_KEYS:
        if key in section:
            if not isinstance(section[key], bool):
                raise SettingsError(f"{where} {key}: expected true or false, got "
                                    f"{type(section[key]).__name__} {section[key]!r}")
            values[key.replace("-", "_")] = section[key]
    for key in RATIO_KEYS:
        if key in section:
            value = section[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not 0 < value <= 1:
                raise SettingsError(f"{where} {key}: expected a number above 0 and at most 1, "
                                    f"got {value!r}")
            values[key.replace("-", "_")] = float(value)
    for key, kind in LIMIT_KEYS.items():
        if key in section:
            value = section[key]
            allowed = (int,) if kind is int else (int, float)
            if isinstance(value, bool) or not isinstance(value, allowed) or not 0 <= value < float("inf"):
                what = "a whole number" if kind is int else "a number"
                raise SettingsError(f"{where} {key}: expected {what} at least 0 (0: no limit), "
                                    f"got {value!r}")
            values[key.replace("-", "_")] = kind(value)
    root = os.path.dirname(os.path.abspath(config_path))
    return replace(Settings(root=root, config_path=config_path), **values)
