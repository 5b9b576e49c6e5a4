"""Whether a case file's requests may go out as soon as the file is collected.

pytest selects items only once all of them are collected (``-k``, ``-m``, ``--deselect``,
``--lf``, ``--sw`` and any plugin's or conftest's ``pytest_collection_modifyitems``), and an
xdist worker learns which items it runs from the controller. A request must never go out for an
item that will not run in this process, so a file's items are sent early only when nothing can
take them away afterwards; otherwise every request waits for the end of collection, as before.
:func:`early_send_blocker` says why a run must wait, or ``None`` when it need not.
"""

from __future__ import annotations

import fnmatch
import os
from pathlib import Path

import pytest

from incident_evals import options

#: pytest's own ``pytest_collection_modifyitems`` implementations (by plugin name), which only
#: deselect under the options :func:`early_send_blocker` checks, or only reorder.
PYTEST_SELECTORS = frozenset({"main", "mark", "funcmanage", "lfplugin", "nfplugin"})
#: The plugin's own: it puts case files that failed to load back, never takes an item away.
OWN_PLUGIN = "incident-evals-session"
CASE_SUFFIXES = (".yaml", ".yml")


def early_send_blocker(config: pytest.Config) -> str | None:
    """Why this run's requests must wait for the end of collection; ``None`` when each case
    file's items may be sent as soon as it is collected."""
    if hasattr(config, "workerinput"):
        return "an xdist worker learns its items from the controller"
    option = config.option
    for flag, value in (
        ("-k", getattr(option, "keyword", "")),
        ("-m", getattr(option, "markexpr", "")),
        ("--deselect", getattr(option, "deselect", None)),
        ("--lf", getattr(option, "lf", False)),
        ("--sw", getattr(option, "stepwise", False) or getattr(option, "stepwise_skip", False)),
    ):
        if value:
            return f"{flag} selects items once all are collected"
    if options.value(config, "repeats") == options.AUTO:
        return "--incident-repeats auto counts the compared items first"
    for implementation in config.hook.pytest_collection_modifyitems.get_hookimpls():
        name = implementation.plugin_name
        if name not in PYTEST_SELECTORS and name != OWN_PLUGIN:
            return f"{name} implements pytest_collection_modifyitems and may deselect items"
    for arg in config.args:
        if "::" in arg:
            return "a node id selects items once they are collected"
        blocker = _other_collected_file(Path(config.invocation_params.dir, arg), config)
        if blocker is not None:
            return f"{blocker} is collected too (only case files are sent early)"
    return None


def _other_collected_file(path: Path, config: pytest.Config) -> Path | None:
    """A file under ``path`` that pytest might collect or load besides case files: a conftest
    (which may deselect items, and is loaded only when its folder is reached), a test module
    (which may fail to collect, and then nothing runs), a doctest file."""
    python_files = [str(pattern) for pattern in config.getini("python_files")]
    doctest_globs = config.getoption("doctestglob", None) or ["test*.txt"]
    doctest_modules = bool(config.getoption("doctestmodules", False))
    # Conftests pytest loaded before the session (those of the arguments' folders) are
    # registered: the check of the hook's implementations covered them.
    loaded = {
        str(Path(module_file).resolve())
        for plugin in config.pluginmanager.get_plugins()
        if (module_file := getattr(plugin, "__file__", None))
    }

    def collected(folder: str, name: str) -> bool:
        if name.endswith(CASE_SUFFIXES):
            return False
        if name == "conftest.py":
            return str(Path(folder, name).resolve()) not in loaded
        if doctest_modules and name.endswith(".py"):
            return True
        return any(fnmatch.fnmatch(name, glob) for glob in (*python_files, *doctest_globs))

    if path.is_file():
        return path if not path.name.endswith(CASE_SUFFIXES) else None
    for folder, _, names in os.walk(path):
        for name in names:
            if collected(folder, name):
                return Path(folder, name)
    return None
