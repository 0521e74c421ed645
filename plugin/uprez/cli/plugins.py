"""``uprez plugins``: what is loaded, which hooks each implements, what was skipped."""

from __future__ import annotations

import argparse
import json
from typing import Any

from uprez.plugins import get_plugin_manager


def register(commands: Any) -> None:
    """Add the ``plugins`` sub-command."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "plugins", help="list loaded plugins, their hooks, steps and providers"
    )
    parser.add_argument("--json", action="store_true", help="print JSON on stdout")
    parser.set_defaults(handler=run)


def describe() -> dict[str, Any]:
    """Loaded plugins with their hooks, the steps and providers offered, and broken plugins."""

    pm = get_plugin_manager()
    plugins = []
    for name, plugin in sorted(pm.list_name_plugin(), key=lambda pair: str(pair[0])):
        if plugin is None:
            continue
        hooks = sorted(caller.name for caller in pm.get_hookcallers(plugin) or [])
        plugins.append({"name": name, "hooks": hooks})
    return {
        "plugins": plugins,
        "steps": sorted(pm.steps()),
        "providers": sorted(pm.providers()),
        "broken": [{"name": n, "error": e} for n, e in sorted(pm.broken.items())],
    }


def run(args: argparse.Namespace) -> int:
    """Print the plugin list."""
    info = describe()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    for plugin in info["plugins"]:
        print(f"{plugin['name']}: {', '.join(plugin['hooks'])}")
    print(f"steps: {', '.join(info['steps'])}")
    print(f"providers: {', '.join(info['providers'])}")
    for broken in info["broken"]:
        print(f"skipped {broken['name']}: {broken['error']}")
    return 0
