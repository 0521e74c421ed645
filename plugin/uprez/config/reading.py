"""Reading a configuration file (TOML or JSON) into a dict, or saying exactly why it can't be.

Every failure becomes one ConfigError naming the file and, for a syntax error, the line and
column, so the user is pointed at the spot rather than shown a parser's traceback.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any, Final

from uprez.config.problems import ConfigProblem
from uprez.errors import ConfigError

__all__ = ["EXTENSIONS", "read_file"]

EXTENSIONS: Final = (".toml", ".json")


def read_file(path: Path) -> dict[str, Any]:
    """The file's content as a dict; ConfigError naming the file (and line) when it can't be."""
    source, suffix = str(path), path.suffix.lower()

    def refuse(message: str) -> ConfigError:
        problem = ConfigProblem("$", message, source)
        return ConfigError("cannot load the configuration:", problems=[problem], source=source)

    if suffix not in EXTENSIONS:
        raise refuse(f"unsupported file type {suffix or '(none)'!r}; use a .toml or .json file")
    try:
        text = path.read_bytes().decode("utf-8-sig")
        data = tomllib.loads(text) if suffix == ".toml" else json.loads(text)
    except FileNotFoundError:
        raise refuse("file not found") from None
    except OSError as exc:
        raise refuse(f"cannot read the file ({exc.strerror or type(exc).__name__})") from None
    except UnicodeDecodeError as exc:
        raise refuse(f"not UTF-8 text (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"\(at line (\d+), column (\d+)\)$", str(exc))
        end = f"line {max(len(text.splitlines()), 1)} (end of file)"
        where = f"line {found[1]}, column {found[2]}" if found else end
        reason = re.sub(r" \(at [^)]*\)$", "", str(exc))
        raise refuse(f"{where}: invalid TOML ({reason})") from None
    except json.JSONDecodeError as exc:
        raise refuse(f"line {exc.lineno}, column {exc.colno}: invalid JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise refuse(f"expected a table (object) at the top, got {type(data).__name__}")
    return data
