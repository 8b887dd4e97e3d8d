"""``[tool.threadlint]`` in pyproject.toml: finding it, reading it, checking it."""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from typing import Any, Dict, List, Optional, Tuple

from threadlint.settings import Settings, SettingsError, validate_patterns, validate_selectors

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on older Pythons only
    import tomli as tomllib

LIST_KEYS = ("select", "ignore", "extend-select", "exclude", "extend-exclude")
BOOL_KEYS = ("contracts-from-prose", "force-exclude")
RATIO_KEYS = ("guarded-ratio",)
KNOWN_KEYS = LIST_KEYS + ("per-file-ignores",) + BOOL_KEYS + RATIO_KEYS


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
    tool = data.get("tool")
    if isinstance(tool, dict) and "threadlint" in tool:
        section = tool["threadlint"]
        if not isinstance(section, dict):
            raise SettingsError(f"{path}: [tool.threadlint] must be a table")
        return section
    if explicit and os.path.basename(path) != "pyproject.toml":
        return data  # a dedicated threadlint.toml holds the keys at top level
    return None


def find_config(start: str) -> Optional[str]:
    """The nearest pyproject.toml holding ``[tool.threadlint]``, from ``start`` upwards."""
    directory = os.path.abspath(start)
    while True:
        candidate = os.path.join(directory, "pyproject.toml")
        if os.path.isfile(candidate):
            if _section(_read_toml(candidate), candidate, explicit=False) is not None:
                return candidate
        parent = os.path.dirname(directory)
        if parent == directory:
            return None
        directory = parent


def _string_list(value: Any, path: str, key: str) -> List[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise SettingsError(f"{path}: [tool.threadlint] {key}: expected a list of strings, "
                            f"got {type(value).__name__} {value!r}")
    return value


def load_settings(config_path: Optional[str], explicit: bool) -> Settings:
    """Settings from a config file (or the defaults when there is none)."""
    if config_path is None:
        return Settings()
    section = _section(_read_toml(config_path), config_path, explicit) or {}
    where = f"{config_path}: [tool.threadlint]"
    for key in section:
        if key not in KNOWN_KEYS:
            raise SettingsError(f"{where} unknown key {key!r} (expected one of: {', '.join(KNOWN_KEYS)})")
    values: Dict[str, Any] = {}
    for key in LIST_KEYS:
        if key in section:
            items = _string_list(section[key], config_path, key)
            if key in ("select", "ignore", "extend-select"):
                items = list(validate_selectors(items, f"{where} {key}"))
            else:
                validate_patterns(items, f"{where} {key}")
            values[key.replace("-", "_")] = tuple(items)
    if "per-file-ignores" in section:
        table = section["per-file-ignores"]
        if not isinstance(table, dict):
            raise SettingsError(f"{where} per-file-ignores: expected a table of "
                                f"glob = [codes], got {type(table).__name__}")
        pairs: List[Tuple[str, Tuple[str, ...]]] = []
        validate_patterns(table, f"{where} per-file-ignores")
        for pattern, codes in table.items():
            codes = _string_list(codes, config_path, f"per-file-ignores.{pattern!r}")
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
    root = os.path.dirname(os.path.abspath(config_path))
    return replace(Settings(root=root, config_path=config_path), **values)
