"""pytest entry point: wires pytest's hooks to the modules that do the work.

Only ``options`` is imported up front; everything else loads when ``--incident-evals`` is given,
so a pytest run without it pays nothing for this plugin.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from incident_evals import options

if TYPE_CHECKING:
    from incident_evals.collect import IncidentFile


def pytest_addoption(parser: pytest.Parser) -> None:
    options.add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    if not options.enabled(config):
        return
    options.validate_all(config)
    config.pluginmanager.register(IncidentEvalsPlugin(config), IncidentEvalsPlugin.NAME)


class IncidentEvalsPlugin:
    NAME = "incident-evals-session"

    def __init__(self, config: pytest.Config) -> None:
        from incident_evals.collect import (
            COLLECT_STATE,
            EVAL_SESSION,
            CollectState,
            register_markers,
        )
        from incident_evals.constraints import builtin_registry
        from incident_evals.session import EvalSession

        self.config = config
        register_markers(config)
        cases = options.cases_root(config)
        # A catalogue folder that does not exist must not widen content_file's root.
        roots = [cases] if cases.is_dir() else []
        if config.args_source == pytest.Config.ArgsSource.ARGS:
            roots.extend(_explicit_paths(config))
        else:
            # A bare `pytest --incident-evals` means the case catalogue, not the test suite.
            if not cases.is_dir():
                raise pytest.UsageError(
                    f"--incident-cases: {cases} is not a directory; pass the folder of case files "
                    "(default incident_cases) or case paths as arguments"
                )
            config.args = [str(cases)]
        # A bad case file must not stop the other cases (SPEC §10); it still fails the run.
        config.option.continue_on_collection_errors = True
        config.stash[COLLECT_STATE] = CollectState(
            roots=roots, registry=builtin_registry(), seen_ids={}
        )
        endpoint = options.resolve_endpoint(config)
        if endpoint is None and not config.option.collectonly:
            from incident_evals.local_model import LocalModelUnavailable, find_local_model

            try:
                find_local_model()
            except LocalModelUnavailable as exc:
                raise pytest.UsageError(str(exc)) from None
        self.session = EvalSession(
            endpoint,
            timeout_s=options.value(config, "timeout"),
            retries=options.value(config, "retries"),
            local_startup_timeout_s=options.value(config, "local_startup_timeout"),
        )
        config.stash[EVAL_SESSION] = self.session

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        # Before the terminal header, which names the local server's address.
        if not self._runs_no_items():
            self.session.start()

    def _runs_no_items(self) -> bool:
        # --collect-only runs nothing; an xdist controller leaves the items to its workers.
        return bool(self.config.option.collectonly) or self.config.pluginmanager.hasplugin(
            "dsession"
        )

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        cases = f"incident-evals: cases {options.value(config, 'cases')}"
        if self.session.uses_local_model and self._runs_no_items():
            where = "xdist workers" if not config.option.collectonly else "--collect-only: none"
            return [f"incident-evals: endpoint: the embedded local model ({where})", cases]
        endpoint = self.session.endpoint
        where = f"{endpoint.shown_url} ({endpoint.source})"
        return [f"incident-evals: endpoint {where}, model {endpoint.model}", cases]

    def pytest_collect_file(self, file_path: Path, parent: pytest.Collector) -> IncidentFile | None:
        from incident_evals.collect import COLLECT_STATE, IncidentFile, is_case_file

        if is_case_file(file_path, self.config.stash[COLLECT_STATE].roots):
            return IncidentFile.from_parent(parent, path=file_path)
        return None

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        self.session.close()


def _explicit_paths(config: pytest.Config) -> list[Path]:
    roots = []
    for arg in config.args:
        path = Path(config.invocation_params.dir, arg.split("::")[0]).resolve()
        if path.is_dir() or path.suffix in (".yaml", ".yml"):
            roots.append(path)
    return roots
