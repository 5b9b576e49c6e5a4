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


def _is_xdist_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _scheduled_on_this_worker(session: pytest.Session, config: pytest.Config) -> list[pytest.Item]:
    """The items xdist has already handed this worker, so their requests can go out early.

    This reads xdist's worker queue, which is not a public API: without it, a worker still
    dispatches each item (and the next) as it reaches them.
    """
    # xdist registers its worker object without a name: find it by type.
    interactor = next(
        (p for p in config.pluginmanager.get_plugins() if type(p).__name__ == "WorkerInteractor"),
        None,
    )
    queue = getattr(interactor, "torun", None)
    if queue is None or not hasattr(queue, "lock"):
        return []
    with queue.lock() as scheduled:
        indices = [index for index in scheduled if isinstance(index, int)]
    return [session.items[index] for index in indices if index < len(session.items)]


def dispatch_items(items: list[pytest.Item]) -> None:
    from incident_evals.collect import ConsistencyItem, IncidentItem

    for item in items:
        if isinstance(item, IncidentItem | ConsistencyItem):
            item.dispatch()


def pytest_addoption(parser: pytest.Parser) -> None:
    options.add_options(parser)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from incident_evals import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


def pytest_configure(config: pytest.Config) -> None:
    if not options.enabled(config):
        return
    options.validate_all(config)
    config.pluginmanager.register(IncidentEvalsPlugin(config), IncidentEvalsPlugin.NAME)


class IncidentEvalsPlugin:
    NAME = "incident-evals-session"

    def __init__(self, config: pytest.Config) -> None:
        from incident_evals.collect import COLLECT_STATE, EVAL_SESSION, configure_collection
        from incident_evals.session import session_from_config

        self.config = config
        config.stash[COLLECT_STATE] = configure_collection(config)
        self.session = session_from_config(config)
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
        selection = options.value(config, "variants")
        shown = "all" if selection is None else "none" if selection == 0 else f"first {selection}"
        cases = (
            f"incident-evals: cases {options.value(config, 'cases')}, variants {shown}, "
            f"seed {options.value(config, 'seed')}"
        )
        recordings = self.session.recordings
        generator = self.session.generator
        generator_line = (
            [
                f"incident-evals: generator {generator.shown_url} ({generator.source}), "
                f"model {generator.model}"
            ]
            if generator is not None
            else []
        )
        if self.session.offline:
            assert recordings is not None
            return [
                f"incident-evals: replaying recordings from {recordings.directory} (offline)",
                cases,
                *generator_line,
            ]
        lines = [self._endpoint_line(config), cases]
        judge = self.session.judge_settings.endpoint
        # Inherited with no judge model, it is no judge yet: not worth a header line.
        if judge is not None and (judge.model or judge.source != "the endpoint under test"):
            model = f", model {judge.model}" if judge.model else ""
            lines.append(f"incident-evals: judge {judge.shown_url} ({judge.source}){model}")
        lines.extend(generator_line)
        if recordings is not None:
            lines.append(f"incident-evals: recording every exchange to {recordings.directory}")
        return lines

    def _endpoint_line(self, config: pytest.Config) -> str:
        if self.session.uses_local_model and self._runs_no_items():
            where = "xdist workers" if not config.option.collectonly else "--collect-only: none"
            return f"incident-evals: endpoint: the embedded local model ({where})"
        endpoint = self.session.endpoint
        where = f"{endpoint.shown_url} ({endpoint.source})"
        return f"incident-evals: endpoint {where}, model {endpoint.model}"

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        # Every selected item's requests go out now, in run order, so results are ready as
        # pytest reaches each item. An xdist worker only learns its items as it runs them.
        if not self._runs_no_items() and not _is_xdist_worker(self.config):
            dispatch_items(session.items)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> None:
        dispatch_items([item] if nextitem is None else [item, nextitem])
        if _is_xdist_worker(self.config):
            dispatch_items(_scheduled_on_this_worker(item.session, self.config))

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        # -x, --maxfail and Ctrl-C end here too: drop what has not been sent.
        self.session.dispatcher.stop()

    def pytest_collect_file(self, file_path: Path, parent: pytest.Collector) -> IncidentFile | None:
        from incident_evals.collect import COLLECT_STATE, IncidentFile, is_case_file

        if is_case_file(file_path, self.config.stash[COLLECT_STATE].roots):
            return IncidentFile.from_parent(parent, path=file_path)
        return None

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        self.session.close()
