"""The plugin's hooks (the ``pytest11`` entry point, ``pytest_incident_evals``, re-exports the
module-level ones): wires pytest's hooks to the modules that do the work.

Only ``options`` is imported up front; everything else loads when ``--incident-evals`` is given,
so a pytest run without it pays nothing for this plugin.
"""

from __future__ import annotations

import atexit
import functools
import gc
import os
import sys
import time
from collections.abc import Callable, Generator, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

from incident_evals import options

if TYPE_CHECKING:
    from incident_evals.collect import IncidentFile
    from incident_evals.progress import ProgressLine
    from incident_evals.request_process import RequestProcess
    from incident_evals.results import ItemJson, LoadErrorJson, ResultsJson
    from incident_evals.session import EvalSession


def _is_xdist_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def count_compared(config: pytest.Config, items: list[pytest.Item]) -> None:
    """How many items the run compares with a baseline: the multiplicity every item's regression
    is decided under. Every xdist worker collects every selected item, so all count the same."""
    from incident_evals.collect import GATE, EvalItem
    from incident_evals.evaluation import CaseRun

    gate = config.stash[GATE]
    gate.compared = max(
        1, sum(isinstance(item, EvalItem) and isinstance(item.run, CaseRun) for item in items)
    )


def dispatch_items(items: list[pytest.Item], session: EvalSession) -> None:
    """Queue the requests of ``items``, in order, with one wake-up of the event loop."""
    from incident_evals.collect import EvalItem

    with session.dispatcher.batch():
        for item in items:
            if isinstance(item, EvalItem):
                item.dispatch()


#: The most characters of an incident item's failure report kept in the terminal and JUnit.
REPORT_LIMIT = 20_000


def scrub_report(
    report: pytest.TestReport | pytest.CollectReport,
    scrubber: Any,
    case: Any,
    clean: set[str] | None = None,
) -> None:
    """Scrub what a report carries to the terminal, JUnit and xdist: the failure (kept as pytest
    made it when it holds nothing to scrub), captured output and user properties.

    ``clean`` holds the user properties (joined) already found to hold nothing to scrub for
    ``case``: an item's three reports carry nearly the same ones, searched once.
    """
    longrepr = report.longrepr
    if isinstance(longrepr, tuple):
        # A skip: (path, line, reason), a shape pytest's summary relies on.
        from incident_evals.secrets import clip

        path, line, reason = longrepr
        report.longrepr = (path, line, clip(scrubber.text(reason, case), REPORT_LIMIT))
    elif longrepr is not None:
        from incident_evals.secrets import clip

        text = str(longrepr)
        scrubbed = scrubber.text(text, case)
        if scrubbed != text or isinstance(longrepr, str):
            report.longrepr = clip(scrubbed, REPORT_LIMIT)
    if report.sections:
        report.sections = [(title, scrubber.text(body, case)) for title, body in report.sections]
    if not isinstance(report, pytest.TestReport):
        return
    values = "\n".join([value for _, value in report.user_properties if isinstance(value, str)])
    if clean is not None and values in clean:
        return
    # One search for all of them: they rarely hold anything to scrub.
    if scrubber.text(values, case) != values:
        report.user_properties = [
            (name, scrubber.text(value, case) if isinstance(value, str) else value)
            for name, value in report.user_properties
        ]
    elif clean is not None:
        clean.add(values)


def gate_from_config(config: pytest.Config) -> Any:
    """The baseline, what fails items, and redaction: checked before anything runs."""
    from incident_evals.evaluation import GateSettings

    gate = GateSettings(
        fail_on=options.value(config, "fail_on"),
        alpha=options.value(config, "alpha"),
        baseline_model=options.value(config, "baseline_model"),
        redact=not options.value(config, "report_sensitive"),
        allow_inconclusive=options.value(config, "allow_inconclusive"),
    )
    path = options.value(config, "baseline")
    if path and gate.baseline_model:
        raise pytest.UsageError(
            "--incident-baseline and --incident-baseline-model exclude each other: compare with "
            "a stored run or with a model run side by side"
        )
    if path:
        from incident_evals.baseline import BaselineError, load_baseline

        try:
            baseline = load_baseline(options.invocation_path(config, path))
        except BaselineError as exc:
            raise pytest.UsageError(f"--incident-baseline: {exc}") from None
        gate.baseline_items = {(i["case_id"], i["variant"]): i for i in baseline["items"]}
    gate.stability_hints = stability_hints(config, gate.baseline_items.values())
    if options.value(config, "repeats") == options.AUTO and not gate.baseline_model:
        raise pytest.UsageError(
            "--incident-repeats auto needs --incident-baseline-model NAME: it samples both "
            "models side by side until each item's comparison is decided"
        )
    if gate.fail_on == "regressions" and not (path or gate.baseline_model):
        raise pytest.UsageError(
            "--incident-fail-on regressions needs a baseline: --incident-baseline RESULTS or "
            "--incident-baseline-model NAME"
        )
    return gate


#: Where the last run's stability class of each item is kept (pytest's cache directory).
STABILITY_CACHE = "incident_evals/stability"


def stability_hints(
    config: pytest.Config, baseline_items: Iterable[Mapping[str, Any]]
) -> dict[tuple[str, str], str]:
    """Each item's stability class as the baseline file says (its ``stability``, or its counts
    for a file written before items carried one), else as the last run left it in the cache."""
    from incident_evals.evidence import stability
    from incident_evals.vocabulary import STABILITY_CLASSES

    hints: dict[tuple[str, str], str] = {}
    cache = getattr(config, "cache", None)
    if cache is not None:
        kept = cache.get(STABILITY_CACHE, {})
        if isinstance(kept, dict):
            for key, value in kept.items():
                case_id, _, variant = str(key).rpartition("::")
                if case_id and value in STABILITY_CLASSES:
                    hints[case_id, variant] = value
    for item in baseline_items:
        found = item.get("stability")
        if found is None and item.get("outcome") not in ("error", "skipped"):
            found = stability(item["passed_samples"], item["samples"])
        if found is not None:
            hints[str(item["case_id"]), str(item["variant"])] = found
    return hints


def keep_stability(config: pytest.Config, items: Iterable[Mapping[str, Any]]) -> None:
    """Leave each item's stability class in the cache for the next run's ``-m``; items this run
    did not run keep theirs."""
    cache = getattr(config, "cache", None)
    if cache is None:
        return
    kept = cache.get(STABILITY_CACHE, {})
    kept = dict(kept) if isinstance(kept, dict) else {}
    for item in items:
        if item.get("stability") is not None:
            kept[f"{item['case_id']}::{item['variant']}"] = item["stability"]
    cache.set(STABILITY_CACHE, kept)


def finish_results(
    config: pytest.Config,
    items: Iterable[ItemJson],
    load_errors: Iterable[LoadErrorJson],
    started: str,
    began: float,
    complete: bool,
) -> ResultsJson:
    """The results document of the run: items in run order, then the baseline's items this run
    no longer has; the regression of each item was decided with its verdict."""
    from incident_evals.baseline import api_difference, compare
    from incident_evals.collect import EVAL_SESSION, GATE
    from incident_evals.results import build_results, run_data

    gate = config.stash[GATE]
    listed = list(items)
    removed: list[ItemJson] = []
    baseline: dict[str, Any] | None = None
    if gate.baseline_items:
        _, removed = compare(listed, list(gate.baseline_items.values()), gate.alpha)
        baseline = {"kind": "file", "path": str(options.value(config, "baseline"))}
        difference = api_difference(listed, list(gate.baseline_items.values()))
        if difference is not None:
            baseline["api_difference"] = difference
    elif gate.baseline_model is not None:
        baseline = {"kind": "model", "model": gate.baseline_model}
    model, base_url = config.stash[EVAL_SESSION].described()
    run = run_data(
        model=model,
        base_url=base_url,
        seed=options.value(config, "seed"),
        started=started,
        duration_s=time.monotonic() - began,
        complete=complete,
        fail_on=gate.fail_on,
        alpha=gate.alpha,
        baseline=baseline,
        redacted=gate.redact,
        allow_inconclusive=gate.allow_inconclusive,
    )
    suite = None
    if baseline is not None:
        from incident_evals.baseline import settle, suite_comparison

        listed = settle(listed, gate.alpha)
        compared = suite_comparison(listed, gate.alpha)
        suite = compared.to_json() if compared is not None else None
    return build_results([*listed, *removed], run=run, load_errors=load_errors, suite=suite)


def slots_text(slots: int) -> str:
    """``2 parallel slots``: how many requests the embedded model answers at once."""
    return "1 slot: one request at a time" if slots == 1 else f"{slots} parallel slots"


_Entry = TypeVar("_Entry")


def _in_run_order(entries: dict[str, tuple[int, _Entry]]) -> list[_Entry]:
    # Stable: under -p no:xdist every place is known; anything without one keeps its arrival.
    return [entry for _, entry in sorted(entries.values(), key=lambda pair: pair[0])]


@functools.cache
def freeze_at_exit() -> None:
    """At interpreter exit, before its last garbage collection, every object is frozen: the
    collection then skips what the session left (its items, cases, reports), which the operating
    system reclaims at once, instead of freeing it object by object (about a fifth of a replayed
    item's cost; docs/performance.md). Registered once per process."""
    atexit.register(gc.freeze)


def pytest_addoption(parser: pytest.Parser) -> None:
    options.add_options(parser)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from incident_evals import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


def pytest_configure(config: pytest.Config) -> None:
    if not options.enabled(config):
        return
    options.validate_all(config)
    early = start_request_process(config)
    pause_collector(config)
    plugin = IncidentEvalsPlugin(config, early)
    config.pluginmanager.register(plugin, IncidentEvalsPlugin.NAME)
    freeze_at_exit()


def start_request_process(config: pytest.Config) -> RequestProcess | None:
    """The helper process that will send this process's requests, started first thing: its
    interpreter imports the SDK on another CPU while this one imports the plugin and collects
    (:mod:`incident_evals.request_process`). Not when this process sends nothing: offline,
    under ``--collect-only``, or as an xdist controller (its workers send)."""
    controller = bool(getattr(config.option, "numprocesses", None)) and not _is_xdist_worker(config)
    if controller or config.option.collectonly or options.value(config, "replay"):
        return None
    # Only now: a run that sends nothing pays nothing for the module.
    from incident_evals.request_process import RequestProcess, helps_here

    if not helps_here():
        return None
    process = RequestProcess()
    # Ended here unless a client took it (a usage error, a run that sends nothing).
    config.add_cleanup(process.discard)
    return process


#: Whether the plugin paused the cyclic garbage collector for start-up and collection.
COLLECTOR_PAUSED = pytest.StashKey[bool]()


def pause_collector(config: pytest.Config) -> None:
    """Pause the cyclic garbage collector from here (the plugin's imports) until collection
    ends: what is built meanwhile (modules, cases, items) lives until the session ends, so the
    full passes the allocations trigger scan ever more objects and free next to nothing
    (docs/performance.md). Left alone when something else paused it; resumed at the latest
    when the config is cleaned up (a usage error, Ctrl-C while collecting)."""
    if not gc.isenabled():
        return
    gc.disable()
    config.stash[COLLECTOR_PAUSED] = True
    config.add_cleanup(lambda: resume_collector(config))


def resume_collector(config: pytest.Config) -> None:
    if config.stash.get(COLLECTOR_PAUSED, False):
        config.stash[COLLECTOR_PAUSED] = False
        gc.enable()


class IncidentEvalsPlugin:
    NAME = "incident-evals-session"

    def __init__(self, config: pytest.Config, early: RequestProcess | None = None) -> None:
        from incident_evals.collect import COLLECT_STATE, EVAL_SESSION, GATE, configure_collection
        from incident_evals.results import started_at
        from incident_evals.session import session_from_config

        self.config = config
        config.stash[COLLECT_STATE] = configure_collection(config)
        self.session = session_from_config(config, early)
        config.stash[EVAL_SESSION] = self.session
        config.stash[GATE] = gate_from_config(config)
        self.started_at = started_at()
        self.started = time.monotonic()
        #: Results by node id, as their reports arrive (from xdist workers too), with each
        #: item's place in the collection: the document lists them in run order.
        self.items: dict[str, tuple[int, ItemJson]] = {}
        self.load_errors: dict[str, tuple[int, LoadErrorJson]] = {}
        #: Where each item stands in the collection (every xdist worker collects the same).
        self.order: dict[str, int] = {}
        #: Under --collect-only, the one-line errors of the case files that failed to load.
        self.collect_only_errors: list[str] = []
        self.results: ResultsJson | None = None
        self.progress: ProgressLine | None = None
        self._close_terminal: Callable[[], None] | None = None
        #: Each case file's items are sent as soon as it is collected (see early_send).
        self.send_early = False
        self._froze = False
        #: The item whose reports are being made, and its user properties found clean.
        self._clean_for: pytest.Item | None = None
        self._clean: set[str] = set()
        # Registered before pytest's own plugins register theirs, so it runs after their
        # garbage collection passes at the end of the session (see pytest_collection_finish).
        config.add_cleanup(self._unfreeze)

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        if self._shares_local_model():
            # Before xdist starts its workers (its hook runs last): they receive its address.
            self.session.start_local_model()
        if self._runs_no_items():
            return
        self.session.start()
        from incident_evals.early_send import early_send_blocker

        self.send_early = self._sends_ahead() and early_send_blocker(self.config) is None
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None and not self.session.offline:
            from incident_evals.progress import ProgressLine, open_terminal, progress_off_reason

            if progress_off_reason(self.config, reporter.isatty(), reporter.hasmarkup) is None:
                # pytest's output capture is suspended here: sys.stdout is the terminal.
                write, self._close_terminal = open_terminal(sys.stdout)
                self.progress = ProgressLine(write, self.session.progress)

    def _shares_local_model(self) -> bool:
        """Whether this is the xdist controller of a run on the embedded model: it starts the
        one server its workers share."""
        return (
            self.session.uses_local_model
            and not self.config.option.collectonly
            and self.config.pluginmanager.hasplugin("dsession")
        )

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """xdist's controller, for each worker it starts: the shared embedded model."""
        from incident_evals.session import WORKERINPUT_KEY

        shared = self.session.shared_local_model(int(node.workerinput.get("workercount", 1)))
        if shared is not None:
            node.workerinput[WORKERINPUT_KEY] = shared.to_workerinput()

    def _sends_ahead(self) -> bool:
        """Whether items are dispatched before pytest reaches them. Not by an xdist worker (it
        learns its items as it runs them), and not offline: recorded answers are read when an
        item asks for them, so a future made ahead would only hold memory until then (every
        item is dispatched as pytest reaches it, see pytest_runtest_protocol)."""
        return not (self._runs_no_items() or _is_xdist_worker(self.config) or self.session.offline)

    def _runs_no_items(self) -> bool:
        # --collect-only runs nothing; an xdist controller leaves the items to its workers.
        return bool(self.config.option.collectonly) or self.config.pluginmanager.hasplugin(
            "dsession"
        )

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        scrub = self.session.scrubber.text
        return [scrub(line) for line in self._header_lines(config)]

    def _header_lines(self, config: pytest.Config) -> list[str]:
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
        api, source = options.resolve(config, "api")
        if api != "chat":
            lines.insert(1, f"incident-evals: over the Responses API ({source}); model.api wins")
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
        target = self.session.target
        if target is not None:
            name = getattr(target, "__qualname__", None) or type(target).__name__
            model = self.session.described()[0]
            return f"incident-evals: target {name} (pytest_incident_evals_target), model {model}"
        if self.session.uses_local_model:
            from incident_evals.local_model import LocalModelServer

            if self._runs_no_items():
                server = self.session.local_server
                if config.option.collectonly or server is None:
                    where = "--collect-only: none" if config.option.collectonly else "did not start"
                    return f"incident-evals: endpoint: the embedded local model ({where})"
                # Said once, here: the workers' own output is not shown.
                return (
                    f"incident-evals: starting the embedded local model at {server.base_url} "
                    f"({slots_text(server.slots)}), shared by the xdist workers"
                )
            return (
                "incident-evals: endpoint: the embedded local model (llama.cpp server, "
                f"SmolLM2-135M-Instruct), model {LocalModelServer.MODEL_ALIAS}, starts on the "
                "first request"
            )
        endpoint = self.session.endpoint
        where = f"{endpoint.shown_url} ({endpoint.source}"
        if endpoint.credentials is not None:
            where += "; its user-info is sent as HTTP Basic auth"
        return f"incident-evals: endpoint {where}), model {endpoint.model}"

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        # Every selected item's requests go out now (those not sent as their file was
        # collected), in run order, so results are ready as pytest reaches each item; the first
        # one starts the embedded model, before pytest's "collected" line (whose hook names its
        # address). An xdist worker only learns its items as it runs them.
        self.order = {item.nodeid: index for index, item in enumerate(session.items)}
        count_compared(self.config, session.items)
        # pytest stops before running anything when a module failed to collect: send nothing.
        stopping = session.testsfailed and not self.config.option.continue_on_collection_errors
        if self._sends_ahead() and not stopping:
            dispatch_items(session.items, self.session)
        if self.config.option.collectonly:
            from incident_evals.collect import LoadErrorItem

            broken = [item for item in session.items if isinstance(item, LoadErrorItem)]
            # Nothing runs to report them: said here, and the exit status is a failure's.
            self.collect_only_errors = [item.message for item in broken]
            session.testsfailed += len(broken)
        self._freeze()
        resume_collector(self.config)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtestloop(self) -> Generator[None, object, object]:
        # An xdist controller collects nothing (its workers do): no collection_finish. A
        # wrapper, since xdist's own loop ends the hook before ordinary implementations.
        resume_collector(self.config)
        return (yield)

    def _freeze(self) -> None:
        """What collection built (the items, their cases and constraints) lives until the session
        ends: frozen, it is not scanned again by every full garbage collection while items run,
        nor by pytest's own collection passes at the end (docs/performance.md). Left alone when
        something else froze objects first: unfreezing is global, and theirs are not ours."""
        if gc.get_freeze_count() == 0:
            gc.freeze()
            self._froze = True

    def _unfreeze(self) -> None:
        if self._froze:
            self._froze = False
            gc.unfreeze()

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if not self.send_early:
            return
        if report.failed:
            # pytest will not run the items of a session whose collection failed.
            self.send_early = False
            return
        dispatch_items(
            [node for node in report.result if isinstance(node, pytest.Item)], self.session
        )

    def pytest_report_collectionfinish(self, config: pytest.Config) -> list[str]:
        if self.collect_only_errors:
            return [
                f"incident-evals: {len(self.collect_only_errors)} case file(s) failed to load:",
                *(f"  {message}" for message in self.collect_only_errors),
            ]
        server = self.session.local_server
        if server is None or server.attached or config.get_verbosity() < 0:
            return []
        return [
            f"incident-evals: starting the embedded local model at {server.base_url} "
            f"({slots_text(server.slots)})"
        ]

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logstart(self) -> None:
        # pytest has written the item's prefix and now waits for its answers.
        if self.progress is not None:
            # Letters pytest wrote without a newline reach the screen before the status line.
            reporter = self.config.pluginmanager.get_plugin("terminalreporter")
            if reporter is not None:
                reporter.flush()
            self.progress.start_waiting()

    def pytest_keyboard_interrupt(self) -> None:
        self._end_progress()

    def _end_progress(self) -> None:
        if self.progress is not None:
            self.progress.close()
        if self._close_terminal is not None:
            self._close_terminal()
            self._close_terminal = None

    def _say_notices(self) -> None:
        """What the session must say once (the embedded model died or did not start)."""
        notices = self.session.take_notices()
        if not notices:
            return
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        for notice in notices:
            for line in notice:
                if reporter is not None:
                    reporter.write_line(line, red=True)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(
        self, item: pytest.Item, nextitem: pytest.Item | None
    ) -> Generator[None, object, object]:
        dispatch_items([item] if nextitem is None else [item, nextitem], self.session)
        if _is_xdist_worker(self.config):
            from incident_evals.xdist_queue import scheduled_items

            dispatch_items(scheduled_items(item.session), self.session)
        try:
            return (yield)
        finally:
            # Its reports are made (a rerun plugin's reruns happen inside this hook).
            from incident_evals.collect import EvalItem

            if isinstance(item, EvalItem):
                item.run.release()

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        from incident_evals.collect import EvalItem, LoadErrorItem
        from incident_evals.results import outcome_of

        report = yield
        if isinstance(item, LoadErrorItem):
            scrub_report(report, self.session.scrubber, None)
            if call.when == "setup":
                report.incident_load_error = item.load_error()  # type: ignore[attr-defined]
                self._place(report, item)
            return report
        if not isinstance(item, EvalItem):
            return report
        # The last stop before the terminal, JUnit and xdist see the report (pytest's skipping
        # plugin has made its xfail and skip decisions).
        if self._clean_for is not item:
            self._clean_for, self._clean = item, set()
        scrub_report(report, self.session.scrubber, item.run.case, self._clean)
        if call.when == "call" or (call.when == "setup" and report.outcome != "passed"):
            error = str(report.longrepr) if call.when == "setup" and report.failed else None
            strict_xpass = report.failed and "XPASS(strict)" in str(report.longrepr)
            outcome = outcome_of(
                report.when, report.outcome, hasattr(report, "wasxfail"), strict_xpass
            )
            # Carried on the report, so it reaches the xdist controller with it.
            report.incident_result = item.result_data(outcome, error)  # type: ignore[attr-defined]
            self._place(report, item)
        return report

    def _place(self, report: pytest.TestReport, item: pytest.Item) -> None:
        """The item's place in the collection, on the report that carries its data: the xdist
        controller receives reports in the order they finish. Only that report: the others are
        not read, and every attribute is sent to the controller."""
        report.incident_order = self.order.get(item.nodeid, -1)  # type: ignore[attr-defined]

    @pytest.hookimpl(wrapper=True)
    def pytest_collection_modifyitems(
        self, config: pytest.Config, items: list[pytest.Item]
    ) -> Generator[None, None, None]:
        from incident_evals.collect import LoadErrorItem

        broken = [item for item in items if isinstance(item, LoadErrorItem)]
        yield
        # Like a collection error, a case file that failed to load is not deselected by -k or
        # -m: what its cases would have tested is unknown, so it must still block.
        kept = set(items)
        items.extend(item for item in broken if item not in kept)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        # Before pytest writes the outcome: the status line goes, a notice comes first.
        if self.progress is not None:
            self.progress.stop_waiting()
        self._say_notices()

        if _is_xdist_worker(self.config):
            return
        order = getattr(report, "incident_order", -1)
        load_error = getattr(report, "incident_load_error", None)
        if load_error is not None:
            self.load_errors[load_error["nodeid"]] = (order, load_error)
        data = getattr(report, "incident_result", None)
        if data is not None:
            self.items[data["nodeid"]] = (order, data)

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        # -x, --maxfail and Ctrl-C end here too: drop what has not been sent.
        self._end_progress()
        self.session.dispatcher.stop()
        if _is_xdist_worker(self.config) or self.config.option.collectonly:
            return
        complete = exitstatus not in (
            pytest.ExitCode.INTERRUPTED,
            pytest.ExitCode.INTERNAL_ERROR,
        ) and not (session.shouldfail or session.shouldstop)
        # Its items were scrubbed where they ran; every sink scrubs the whole document again.
        self.results = finish_results(
            self.config,
            _in_run_order(self.items),
            _in_run_order(self.load_errors),
            self.started_at,
            self.started,
            complete,
        )
        keep_stability(self.config, self.results["items"])
        from incident_evals.verdict import BLOCK, read

        if read(self.results).verdict == BLOCK and session.exitstatus == pytest.ExitCode.OK:
            # A block no item's outcome shows (regressions only the items together show, a
            # baseline case that did not run) must fail the CI step all the same.
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        path = options.value(self.config, "report")
        if path:
            from incident_evals.results import write_results

            write_results(
                options.invocation_path(self.config, path), self.results, self.session.scrubber
            )
        self.config.hook.pytest_incident_evals_results(results=self.results)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        self._say_notices()
        if any(item.get("outcome") == "error" for _, item in self.items.values()):
            self.session.keep_local_log = True
        kept = self.session.kept_local_log()
        if kept is not None:
            terminalreporter.write_line(
                f"incident-evals: the embedded model server's log is kept: {kept}"
            )
        if self.results is None or not (self.results["items"] or self.results["load_errors"]):
            return
        from incident_evals.report.terminal import summary_lines

        scrubber = self.session.scrubber
        terminalreporter.write_sep("=", "incident-evals")
        for line in summary_lines(self.results, scrubber):
            terminalreporter.write_line(scrubber.text(line))
        step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
        if step_summary:
            from incident_evals.report.markdown import markdown

            with open(step_summary, "a", encoding="utf-8") as stream:
                stream.write(scrubber.text(markdown(self.results, scrubber)) + "\n")

    def pytest_collect_file(self, file_path: Path, parent: pytest.Collector) -> IncidentFile | None:
        from incident_evals.collect import COLLECT_STATE, IncidentFile, is_case_file

        if is_case_file(file_path, self.config.stash[COLLECT_STATE].roots):
            return IncidentFile.from_parent(parent, path=file_path)
        return None

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        from incident_evals.collect import COLLECT_STATE, EVAL_SESSION, GATE

        self.session.close()
        # Nothing of this run outlives it (pytester runs many sessions in one process).
        del config.stash[COLLECT_STATE]
        del config.stash[EVAL_SESSION]
        del config.stash[GATE]
        config.pluginmanager.unregister(self, self.NAME)
