"""``uprez blender install`` and ``uprez blender path``: uprez's Blender add-on, where Blender
finds it.

The add-on is one file, ``uprez/hooks/blender_adapter.py``, that runs in Blender's own Python
without uprez installed there (it starts the ``uprez`` command line in the background). Two
layouts:

* legacy add-on (Blender 3.6+): ``<dir>/uprez_blender.py``, by default in
  ``<user resources>/scripts/addons``, or ``$BLENDER_USER_SCRIPTS/addons`` when that is set;
* extension (``--extension``, Blender 4.2+): ``<dir>/uprez/__init__.py`` and
  ``<dir>/uprez/blender_manifest.toml``, by default in
  ``<user resources>/extensions/user_default``, or ``$BLENDER_USER_EXTENSIONS/user_default``.

The user resources are ``$BLENDER_USER_RESOURCES`` when that is set (Blender documents it as
replacing the default user folder, version and all), else the newest version's folder in the
Blender user folder: ``$XDG_CONFIG_HOME/blender`` (``~/.config/blender``) on Linux,
``~/Library/Application Support/Blender`` on macOS and ``%APPDATA%\\Blender Foundation\\Blender``
on Windows. The same precedence as Blender's own (checked with the ``bpy`` 4.2 wheel):
``BLENDER_USER_SCRIPTS`` and ``BLENDER_USER_EXTENSIONS`` over ``BLENDER_USER_RESOURCES``.
``uprez blender path`` prints the add-on file itself, for Blender's Preferences > Add-ons >
Install from Disk.
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import shutil
import sys
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from uprez.atomic import write_text_atomic
from uprez.errors import ConfigError

#: The add-on's module, inside the ``uprez.hooks`` package.
ADDON_RESOURCE = "blender_adapter.py"
#: The file name of the legacy add-on (its module name in Blender: ``uprez_blender``; never
#: ``uprez.py``, which would hide the uprez package from Blender's Python).
ADDON_FILE = "uprez_blender.py"
#: The extension's folder name, its manifest ``id``.
EXTENSION_ID = "uprez"
MANIFEST_FILE = "blender_manifest.toml"
#: Extensions exist from this Blender version on.
EXTENSIONS_SINCE = (4, 2)


def register(commands: Any) -> None:
    """Add the ``blender`` sub-command and its two actions."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "blender",
        help="install the Blender add-on that upscales each rendered movie",
        description="uprez's Blender add-on: after a render to a movie, it starts "
        "'uprez upscale' in the background (Blender never waits).",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    install = actions.add_parser(
        "install",
        help="write the add-on where Blender finds it",
        description="Write the add-on into the add-ons folder of the newest Blender in your "
        "user folder (or DIR), then enable it in Blender's Preferences > Add-ons.",
    )
    install.add_argument(
        "--dir",
        type=Path,
        metavar="DIR",
        help="the folder to write into (default: $BLENDER_USER_RESOURCES, else <Blender user "
        "folder>/<newest version>, then /scripts/addons, or with --extension "
        "/extensions/user_default)",
    )
    install.add_argument(
        "--extension",
        action="store_true",
        help="write a Blender 4.2+ extension: DIR/uprez/__init__.py + blender_manifest.toml",
    )
    install.set_defaults(handler=install_addon)
    where = actions.add_parser(
        "path",
        help="print the add-on's source file (for Preferences > Add-ons > Install from Disk)",
    )
    where.set_defaults(handler=print_path)


# -- the add-on's files ----------------------------------------------------------------------------


def addon_source() -> str:
    """The add-on's source text (read as a package resource; Blender's Python runs it)."""
    return resources.files("uprez.hooks").joinpath(ADDON_RESOURCE).read_text(encoding="utf-8")


def addon_path() -> Path:
    """Where the add-on's source file is installed."""
    return Path(str(resources.files("uprez.hooks").joinpath(ADDON_RESOURCE)))


def _literal(source: str, name: str) -> Any:
    """The literal value assigned to ``name`` at the top of ``source``, without running it."""
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == name for target in node.targets
        ):
            return ast.literal_eval(node.value)
    raise LookupError(f"{ADDON_RESOURCE} assigns no {name}")


def manifest_text(source: str | None = None) -> str:
    """``blender_manifest.toml`` of the extension layout (the add-on's ``BLENDER_MANIFEST``)."""
    text: str = _literal(addon_source() if source is None else source, "BLENDER_MANIFEST")
    return text


def addon_version(source: str | None = None) -> str:
    """The add-on's version (its ``ADDON_VERSION``)."""
    return str(_literal(addon_source() if source is None else source, "ADDON_VERSION"))


# -- where Blender looks ---------------------------------------------------------------------------


def blender_user_folder(
    platform: str | None = None, env: Mapping[str, str] | None = None, home: Path | None = None
) -> Path:
    """Blender's per-user folder, which holds one sub-folder per version (``4.2``, ``3.6``)."""
    platform = sys.platform if platform is None else platform
    env = os.environ if env is None else env
    home = Path.home() if home is None else home
    if platform == "win32":
        appdata = env.get("APPDATA") or str(home / "AppData" / "Roaming")
        return Path(appdata) / "Blender Foundation" / "Blender"
    if platform == "darwin":
        return home / "Library" / "Application Support" / "Blender"
    config = env.get("XDG_CONFIG_HOME") or str(home / ".config")
    return Path(config) / "blender"


def _version(name: str) -> tuple[int, int] | None:
    match = re.fullmatch(r"(\d+)\.(\d+)", name)
    return (int(match[1]), int(match[2])) if match else None


def newest_version(folder: Path, minimum: tuple[int, int] = (0, 0)) -> Path | None:
    """The sub-folder of the newest Blender version in ``folder`` (at least ``minimum``)."""
    if not folder.is_dir():
        return None
    found = [
        (version, entry)
        for entry in folder.iterdir()
        if entry.is_dir() and (version := _version(entry.name)) and version >= minimum
    ]
    return max(found)[1] if found else None


def default_dir(
    extension: bool,
    platform: str | None = None,
    env: Mapping[str, str] | None = None,
    home: Path | None = None,
) -> Path:
    """Where ``install`` writes without ``--dir``; ConfigError (exit 2) when Blender has no
    user folder here yet."""
    env = os.environ if env is None else env
    if extension and env.get("BLENDER_USER_EXTENSIONS"):
        return Path(env["BLENDER_USER_EXTENSIONS"]) / "user_default"
    if not extension and env.get("BLENDER_USER_SCRIPTS"):
        return Path(env["BLENDER_USER_SCRIPTS"]) / "addons"
    resources = user_resources(extension, platform, env, home)
    if extension:
        return resources / "extensions" / "user_default"
    return resources / "scripts" / "addons"


def user_resources(
    extension: bool,
    platform: str | None = None,
    env: Mapping[str, str] | None = None,
    home: Path | None = None,
) -> Path:
    """The folder Blender keeps ``scripts``, ``extensions`` and ``config`` in:
    ``$BLENDER_USER_RESOURCES``, else the newest version's in the user folder (4.2 or newer for
    an extension); ConfigError (exit 2) when there is none yet."""
    env = os.environ if env is None else env
    if env.get("BLENDER_USER_RESOURCES"):
        return Path(env["BLENDER_USER_RESOURCES"])
    folder = blender_user_folder(platform, env, home)
    version = newest_version(folder, EXTENSIONS_SINCE if extension else (0, 0))
    if version is None:
        wanted = "Blender 4.2 or newer" if extension else "Blender"
        raise ConfigError(
            f"no user folder of {wanted} in {folder} (start Blender once to make it), "
            f"or say where to write: uprez blender install --dir DIR"
        )
    return version


# -- the commands ----------------------------------------------------------------------------------


def _write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` whole or not at all (Blender may be reading the folder)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, text)


def _other_installed(extension: bool) -> Path | None:
    """The other layout, where ``install`` puts it by default, when it is there."""
    try:
        folder = default_dir(not extension)
    except ConfigError:
        return None
    other = folder / (ADDON_FILE if extension else EXTENSION_ID)
    return other if other.exists() else None


def _command_hint() -> str:
    found = shutil.which("uprez")
    return found if found else f"{sys.executable} -m uprez"


def install_addon(args: argparse.Namespace) -> int:
    """Write the add-on (or the extension), say where and what to do next."""
    source = addon_source()
    version = addon_version(source)
    chosen = args.dir is None
    folder: Path = default_dir(args.extension) if chosen else args.dir
    if args.extension:
        package = folder / EXTENSION_ID
        _write(package / "__init__.py", source)
        _write(package / MANIFEST_FILE, manifest_text(source))
        print(f"wrote {package / '__init__.py'} and {MANIFEST_FILE} (uprez extension {version})")
        print(
            "next: restart Blender (or Preferences > Get Extensions > Repositories > "
            'Refresh Local), then enable "uprez: upscale renders to 4K" in '
            "Preferences > Add-ons"
        )
    else:
        target = folder / ADDON_FILE
        _write(target, source)
        print(f"wrote {target} (uprez Blender add-on {version})")
        print(
            'next: in Blender, Preferences > Add-ons, search "uprez" and enable '
            '"uprez: upscale renders to 4K"'
        )
    other = _other_installed(args.extension) if chosen else None
    if other is not None:
        print(f"note: {other} is installed too: keep one of the two enabled, not both")
    print(
        f"the add-on runs {_command_hint()}; if Blender does not find uprez on its PATH, set "
        "the add-on's 'uprez executable' preference or UPREZ_EXECUTABLE"
    )
    return 0


def print_path(args: argparse.Namespace) -> int:
    """Print the add-on's source file; how to install it by hand goes to stderr."""
    print(addon_path())
    print(
        "install it by hand: Blender > Preferences > Add-ons > Install from Disk..., "
        "pick this file, then enable it",
        file=sys.stderr,
    )
    return 0
