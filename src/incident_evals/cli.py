"""The ``incident-evals`` command line: ``new``, ``calls``, ``validate``, ``scan``,
``variants``, ``report``, ``catalogue``, ``schema`` and ``serve-local``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from incident_evals._version import __version__
from incident_evals.options import DEFAULT_CASES
from incident_evals.vocabulary import SEVERITIES_ASCENDING

if TYPE_CHECKING:
    from collections.abc import Callable

    from incident_evals.case import LoadedCase
    from incident_evals.constraints import UndecidedError
    from incident_evals.constraints.judge import JudgeCheck
    from incident_evals.patterns import BoundedPattern
    from incident_evals.recorded import SelfCheck
    from incident_evals.registries import Registries
    from incident_evals.session import EvalSession
    from incident_evals.traces import ModelCall
    from incident_evals.transcript import Judgement, Transcript
    from incident_evals.variants import Variant

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2
#: ``report``: the run could not judge every item (errors, stopped early, nothing ran).
EXIT_INCOMPLETE = 3
#: Stopped by Ctrl-C (128 + SIGINT, as shells report it).
EXIT_INTERRUPTED = 130


def _validate(args: argparse.Namespace) -> int:
    from incident_evals.case import (
        CaseError,
        EmptyCaseFileWarning,
        IdClaims,
        case_files,
        load_claimed,
    )
    from incident_evals.client import JudgeError
    from incident_evals.constraints import UndecidedError
    from incident_evals.registries import ProjectError, ProjectScan, ScanError, scan

    cwd = Path.cwd()
    # As `python -m` does, so `python: "checks:fn"` constraints import from the project.
    if str(cwd) not in sys.path:
        sys.path.insert(0, str(cwd))
    named: list[str] = args.paths or [DEFAULT_CASES]
    given = [Path(p).resolve() for p in named]
    # A file or folder inside the default catalogue may use content_file anywhere in it.
    roots = [*given, cwd / DEFAULT_CASES] if (cwd / DEFAULT_CASES).is_dir() else given
    missing = [p for p in named if not Path(p).exists()]
    if missing:
        # A first run in a new project: say what the default is and how to start one.
        hint = (
            ""
            if args.paths
            else " (the default catalogue: pass case files or folders, or write a first case "
            "with incident-evals new)"
        )
        for name in missing:
            print(
                f"incident-evals validate: {name}: no such file or directory{hint}", file=sys.stderr
            )
        return EXIT_USAGE
    # Overlapping arguments (a folder and a file in it) name each file once.
    paths = list(dict.fromkeys(path for root in given for path in case_files(root)))
    seen = IdClaims(roots)
    cases = errors = checked = unchecked = 0
    # A conftest or hook that fails is one line, however many files are under it.
    said: set[str] = set()
    judging = _judge_session(args, "validate") if args.check_recorded else None
    if isinstance(judging, int):
        return judging
    try:
        try:
            project = scan(given, paths, cwd) if paths else ProjectScan({})
        except ScanError as exc:
            print(f"incident-evals validate: {exc}", file=sys.stderr)
            return EXIT_USAGE
        for path in paths:
            try:
                found = project.registries(path)
            except ProjectError as exc:
                if str(exc) not in said:
                    said.add(str(exc))
                    errors += 1
                    print(exc)
                continue
            # The loader of every front-end: nothing in a case file stops the catalogue.
            results = load_claimed(path, roots, found.constraints, found.variants, seen, cwd)
            if not results:
                print(EmptyCaseFileWarning(path).line(cwd))
            for result in results:
                if isinstance(result, CaseError):
                    errors += 1
                    print(result.render(cwd))
                    continue
                cases += 1
                if not args.check_recorded:
                    continue
                where = f"{_shown(result.case.path)}:{result.case.line}"
                try:
                    check = _self_check(result, judging)
                except UndecidedError as exc:
                    errors += 1
                    print(_undecided(result, exc))
                    continue
                except JudgeError as exc:
                    errors += 1
                    print(f"{where}: {result.case.id}: judge error: calibrating the judge: {exc}")
                    continue
                checked += check.checkable
                # Not an error: a case need not have a recording; but never silently skipped.
                unchecked += not check.checkable
                if check.checkable and not check.sound:
                    errors += 1
                    print(f"{where}: {result.case.id}: {check.describe()}")
                elif args.verbose or not check.checkable or check.uncalibrated_judges():
                    print(f"{where}: {result.case.id}: {check.describe()}")
    except KeyboardInterrupt:
        # Ctrl-C (or project code raising KeyboardInterrupt, which looks the same): stop, say so.
        print("incident-evals validate: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        if judging is not None:
            judging.close()
    summary = f"{cases} case(s) in {len(paths)} file(s), {errors} error(s)"
    if args.check_recorded:
        summary += f", {checked} checked on their recorded incident"
        if unchecked:
            summary += f", {unchecked} not checked"
    print(summary, file=sys.stderr if errors else sys.stdout)
    return EXIT_INVALID if errors else EXIT_OK


def _judge_session(args: argparse.Namespace, command: str) -> EvalSession | int | None:
    """The session whose judge answers ``judge`` constraints for ``command`` (``--judge-model``,
    or recorded judge verdicts with ``--judge-replay``); ``None`` without one; an exit code on
    bad usage."""
    from incident_evals import options
    from incident_evals.client import Endpoint
    from incident_evals.secrets import Scrubber
    from incident_evals.session import EvalSession, Recordings

    if args.judge_record and args.judge_replay:
        print(
            f"incident-evals {command}: --judge-record and --judge-replay exclude each other",
            file=sys.stderr,
        )
        return EXIT_USAGE
    recordings: Recordings | None = None
    if args.judge_replay:
        directory = Path(args.judge_replay).resolve()
        if not directory.is_dir():
            print(
                f"incident-evals {command}: --judge-replay: {args.judge_replay} is not a "
                "directory of recordings",
                file=sys.stderr,
            )
            return EXIT_USAGE
        recordings = Recordings(directory, "replay")
    elif args.judge_model:
        recordings = (
            Recordings(Path(args.judge_record).resolve(), "record") if args.judge_record else None
        )
    elif args.judge_record or args.judge_base_url:
        print(
            f"incident-evals {command}: --judge-base-url and --judge-record need --judge-model "
            "NAME",
            file=sys.stderr,
        )
        return EXIT_USAGE
    else:
        return None
    judge = options.JudgeSettings(
        Endpoint(args.judge_base_url, args.judge_model or "", "--judge-base-url"),
        "no judge model: pass --judge-model NAME",
    )
    return EvalSession(
        None,
        timeout_s=options.DEFAULT_TIMEOUT_S,
        retries=options.DEFAULT_RETRIES,
        local_startup_timeout_s=options.DEFAULT_LOCAL_STARTUP_TIMEOUT_S,
        recordings=recordings,
        judge=judge,
        # pytest's own cache folder, so `pytest --incident-judge-model` reuses these verdicts.
        judge_cache_dir=lambda: Path(".pytest_cache", "d", "incident-evals-judge"),
        scrubber=Scrubber.from_environment(urls=[args.judge_base_url or ""]),
    )


#: Why validate calibrates no judge, said in each case's "not checked" line.
NO_VALIDATE_JUDGE = (
    "no judge is configured: pass --judge-model NAME (and --judge-base-url URL), or replay "
    "recorded verdicts with --judge-replay DIR"
)


def _self_check(loaded: LoadedCase, session: EvalSession | None) -> SelfCheck:
    from incident_evals.recorded import self_check

    if session is None:
        return self_check(loaded, uncalibrated=NO_VALIDATE_JUDGE)

    def judge(check: JudgeCheck, transcript: Transcript, index: int) -> Judgement:
        return session.judge(check, transcript, loaded.case, index)

    return self_check(loaded, judge)


def _undecided(loaded: LoadedCase, error: UndecidedError) -> str:
    """``file:line: expect[i].name: message``: a constraint that reached no verdict on the
    recording, located like a load error."""
    constraint = error.constraint
    path = _shown(loaded.case.path)
    if constraint is None:
        return f"{path}:{loaded.case.line}: {loaded.case.id}: {error.message}"
    index = next(i for i, c in enumerate(loaded.constraints) if c is constraint)
    return (
        f"{path}:{constraint.line}: expect[{index}].{constraint.name}: cannot judge the "
        f"recorded incident: {error.message}"
    )


#: ``scan``: example calls shown per incident by default.
DEFAULT_EXAMPLES = 3
#: ``scan --judge``: the share of matching calls judged by default.
DEFAULT_SAMPLE = 0.1


def _scan(args: argparse.Namespace) -> int:
    from incident_evals.catalogue import Catalogue, CatalogueError
    from incident_evals.scan import Scanner, parse_since, render
    from incident_evals.traces import TraceError

    def usage(message: str) -> int:
        print(f"incident-evals scan: {message}", file=sys.stderr)
        return EXIT_USAGE

    judge_flags = [
        flag
        for flag, value in (
            ("--sample", args.sample),
            ("--judge-model", args.judge_model),
            ("--judge-base-url", args.judge_base_url),
            ("--judge-record", args.judge_record),
            ("--judge-replay", args.judge_replay),
        )
        if value is not None
    ]
    if judge_flags and not args.judge:
        return usage(f"{judge_flags[0]} goes with --judge")
    since = None
    if args.since is not None:
        try:
            since = parse_since(args.since)
        except ValueError as exc:
            return usage(f"--since: {exc}")
    session = None
    if args.judge:
        if not (args.judge_model or args.judge_replay):
            return usage("--judge needs a judge: pass --judge-model NAME or --judge-replay DIR")
        found = _judge_session(args, "scan")
        if isinstance(found, int):
            return found
        session = found
    try:
        catalogue = Catalogue.load(args.cases)
    except CatalogueError as exc:
        return usage(f"--cases: {exc}")
    writer = None
    try:
        guard = catalogue.guard(seed=args.seed, otel=False)
        if args.new_cases is not None:
            from incident_evals.intake import CandidateWriter

            writer = CandidateWriter(Path(args.new_cases), catalogue.loaded)
        scanner = Scanner(
            guard,
            catalogue.loaded,
            since=since,
            examples=args.examples,
            fail_severity=args.fail_severity,
            judge=None
            if session is None
            else (lambda check, transcript, case: session.judge(check, transcript, case, 0)),
            sample=args.sample if args.sample is not None else DEFAULT_SAMPLE,
            seed=args.seed,
            on_hit=None if writer is None else writer.write,
        )
        scanner.report.case_errors.extend(error.render(Path.cwd()) for error in catalogue.errors)
        try:
            report = scanner.scan([Path(log) for log in args.logs], args.format)
        except TraceError as exc:
            return usage(str(exc))
    except KeyboardInterrupt:
        print("incident-evals scan: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        if session is not None:
            session.close()
    for note in guard.notes:
        print(f"incident-evals scan: note: {note}", file=sys.stderr)
    if args.json:
        document = report.to_json()
        if writer is not None:
            document["new_cases"] = [_shown(path) for path in writer.written]
        print(json.dumps(document, indent=2, ensure_ascii=False))
    else:
        for line in render(report):
            print(line)
        if writer is not None:
            for path in writer.written:
                print(f"wrote {_shown(path)}")
    status = report.exit_status()
    if writer is not None and writer.problems:
        for problem in writer.problems:
            print(f"incident-evals scan: --new-cases: {problem}", file=sys.stderr)
        # A hit that could not be written is not a clean scan either.
        status = status or EXIT_USAGE
    return status


def _variants(args: argparse.Namespace) -> int:
    from incident_evals.case import CaseError, LoadedCase, catalogue_root, load_file
    from incident_evals.options import variant_selection
    from incident_evals.registries import ProjectError, ScanError, scan
    from incident_evals.variants import VariantGenerationError, expand
    from incident_evals.variants.describe import input_diff

    path = Path(args.case)
    if not path.is_file():
        print(f"incident-evals variants: {args.case}: no such case file", file=sys.stderr)
        return EXIT_USAGE
    try:
        selection = variant_selection(args.variants)
    except argparse.ArgumentTypeError as exc:
        print(f"incident-evals variants: --variants: {exc}", file=sys.stderr)
        return EXIT_USAGE
    cwd = Path.cwd()
    if str(cwd) not in sys.path:
        sys.path.insert(0, str(cwd))
    roots = [cwd / DEFAULT_CASES] if (cwd / DEFAULT_CASES).is_dir() else []
    try:
        found = scan([path.resolve()], [path.resolve()], cwd).registries(path.resolve())
    except ScanError as exc:
        print(f"incident-evals variants: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ProjectError as exc:
        print(exc)
        return EXIT_INVALID
    registry, generators = found.constraints, found.variants()
    results = load_file(path, catalogue_root(path, [*roots, path.resolve()]), registry, generators)
    errors = [r for r in results if isinstance(r, CaseError)]
    for error in errors:
        print(error.render(cwd))
    loaded = [r for r in results if isinstance(r, LoadedCase)]
    if args.id is not None:
        loaded = [r for r in loaded if r.case.id == args.id]
        if not loaded and not errors:
            print(f"incident-evals variants: {args.case} has no case {args.id!r}", file=sys.stderr)
            return EXIT_USAGE
    if args.freeze and selection is not None:
        # Freezing removes the model-made generators' entries: all their variants must be kept.
        print(
            "incident-evals variants: --freeze keeps every variant: drop --variants",
            file=sys.stderr,
        )
        return EXIT_USAGE
    complete = None
    if args.generator_model:
        complete = _generator(args)
    elif args.freeze:
        print(
            "incident-evals variants: --freeze keeps variants written by a generator model: "
            "pass --generator-model NAME (and --generator-base-url URL)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    for number, result in enumerate(loaded):
        case = result.case
        variants: list[Variant] = []
        for outcome in expand(result, args.seed, generators, selection, complete):
            if isinstance(outcome, VariantGenerationError):
                print(f"{_shown(case.path)}:{outcome.line}: variants.generate: {outcome}")
                errors.append(CaseError(case.path, outcome.line, str(outcome)))
            else:
                variants.append(outcome)
        if number:
            print()
        where = f"{_shown(case.path)}:{case.line}"
        print(f"{case.id} ({where}): {len(variants)} variant(s), seed {args.seed}")
        for variant in variants:
            made = variant.provenance
            options = json.dumps(dict(made.options), ensure_ascii=False, sort_keys=True)
            source = "hand-written" if made.seed is None else f"{made.generator} {options}"
            print(f"\n[{variant.id}] {source}")
            print(f"  {made.description}")
            for line in input_diff(case.input, variant.case.input, variant.id):
                print(f"  {line}")
        root = catalogue_root(path, [*roots, path.resolve()])
        if args.freeze and not _freeze(path, root, result, variants, found, args, cwd):
            return EXIT_INVALID
    return EXIT_INVALID if errors else EXIT_OK


def _generator(args: argparse.Namespace) -> Callable[[list[dict[str, Any]]], str]:
    """The generator model, through the same retrying client and cache as ``pytest`` uses."""
    from incident_evals.client import ChatClient, Endpoint, ResponseCache
    from incident_evals.replay import read_answer
    from incident_evals.session import GENERATOR_MAX_TOKENS, GENERATOR_TEMPERATURE

    endpoint = Endpoint(args.generator_base_url, args.generator_model, "--generator-base-url")
    client = ChatClient(endpoint)
    # pytest's own cache folder, so `pytest --incident-generator-model` reuses these replies.
    from incident_evals.secrets import Scrubber

    scrubber = Scrubber.from_environment(urls=[args.generator_base_url])
    cache = ResponseCache(
        Path(".pytest_cache", "d", "incident-evals-generator"), scrubber.credentials
    )

    def complete(messages: list[dict[str, Any]]) -> str:
        request = {
            "model": endpoint.model,
            "messages": messages,
            "temperature": GENERATOR_TEMPERATURE,
            "max_tokens": GENERATOR_MAX_TOKENS,
        }
        response = cache.get(request)
        if response is None:
            response, _ = client.complete(request)
            read_answer(response, "the generator model")  # a malformed answer is not cached
            cache.put(request, response)
        return read_answer(response, "the generator model").text

    return complete


def _freeze(
    path: Path,
    root: Path,
    loaded: LoadedCase,
    variants: list[Variant],
    registries: Registries,
    args: argparse.Namespace,
    cwd: Path,
) -> bool:
    from incident_evals.case import CaseError, load_file
    from incident_evals.variants.freeze import FreezeError, freeze_text

    generators = registries.variants()
    model_made = {g.name for g in generators if g.generate_with_model is not None}
    frozen = [v for v in variants if v.provenance.generator in model_made]
    declared = {spec.name for spec in loaded.case.variants.generate}
    if not frozen:
        print(
            f"{loaded.case.id}: nothing to freeze (no {' or '.join(sorted(model_made))} variants)"
        )
        return True
    note = f"written by {args.generator_model}, frozen by incident-evals variants --freeze"
    source = path.read_text(encoding="utf-8")
    try:
        text = freeze_text(source, loaded.case.id, frozen, model_made & declared, note)
    except FreezeError as exc:
        print(f"{_shown(path)}:{loaded.case.line}: cannot freeze: {exc}")
        return False
    path.write_text(text, encoding="utf-8")
    # Never leave a case that does not load: check the edit, and undo it if it fails.
    reloaded = load_file(path, root, registries.constraints, generators)
    problems = [r for r in reloaded if isinstance(r, CaseError)]
    if problems:
        path.write_text(source, encoding="utf-8")
        print(
            f"{_shown(path)}: not frozen, the edited file would not load: {problems[0].render(cwd)}"
        )
        return False
    print(f"froze {len(frozen)} variant(s) into {_shown(path)}: {', '.join(v.id for v in frozen)}")
    return True


def _shown(path: Path) -> str:
    """``path`` relative to the current directory where it can be, as case errors are."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _report(args: argparse.Namespace) -> int:
    """Render a results file; exit 0 PASS, 1 BLOCK, 3 INCOMPLETE, 2 on bad usage or input."""
    from incident_evals.baseline import (
        DEFAULT_ALPHA,
        BaselineError,
        compare,
        load_baseline,
        settle,
        suite_comparison,
    )
    from incident_evals.report import BLOCK, PASS, read
    from incident_evals.report.html import html
    from incident_evals.report.markdown import markdown
    from incident_evals.report.terminal import summary_lines

    def usage(message: str) -> int:
        print(f"incident-evals report: {message}", file=sys.stderr)
        return EXIT_USAGE

    alpha = DEFAULT_ALPHA
    if args.alpha is not None:
        if args.baseline is None:
            return usage("--alpha needs --baseline: it is the significance level of the comparison")
        try:
            alpha = float(args.alpha)
        except ValueError:
            alpha = float("nan")
        if not 0 < alpha < 1:
            return usage(
                f"--alpha: expected a number between 0 and 1 (exclusive), got {args.alpha!r}"
            )
    path = Path(args.results)
    if not path.exists():
        return usage(f"{path}: no such results file")
    if path.is_dir():
        return usage(f"{path}: is a folder, not a results file")
    try:
        results = load_baseline(path)
    except BaselineError as exc:
        return usage(str(exc))
    run: dict[str, Any] = dict(results["run"])
    items: list[dict[str, Any]] = results["items"]
    changed = False
    # Rebuilt with the document, as it was unless the comparison is made again.
    suite: dict[str, Any] | None = (results.get("summary") or {}).get("suite")
    if args.baseline is not None:
        try:
            baseline = load_baseline(Path(args.baseline))
        except BaselineError as exc:
            return usage(f"--baseline: {exc}")
        # Each side's own comparison is replaced: removed items of either are not items it ran.
        items = [item for item in items if _status(item) != "removed"]
        baseline_items = [item for item in baseline["items"] if _status(item) != "removed"]
        try:
            found, removed = compare(items, baseline_items, alpha)
        except ValueError as exc:
            return usage(f"cannot compare {path} with {args.baseline}: {exc}")
        for item in items:
            item["regression"] = found[(item["case_id"], item["variant"])].to_json()
        items = settle(items, alpha)
        compared = suite_comparison(items, alpha)
        suite = compared.to_json() if compared is not None else None
        items = [*items, *(dict(item) for item in removed)]
        run.update(
            baseline={"kind": "file", "path": args.baseline, "model": baseline["run"]["model"]},
            alpha=alpha,
            # Comparing with a baseline is the upgrade gate: known failures do not block.
            fail_on=args.fail_on or "regressions",
        )
        changed = True
    elif args.fail_on is not None:
        if args.fail_on == "regressions" and not read(results).has_baseline:
            return usage(
                f"--fail-on regressions needs a baseline: {path} has none; pass --baseline B"
            )
        run["fail_on"] = args.fail_on
        changed = True
    if changed:
        from incident_evals.results import build_results

        results = dict(
            build_results(items, run=run, load_errors=results.get("load_errors", []), suite=suite)
        )
    # Files first: a file that cannot be written is the one line the user sees.
    outputs = [
        ("--markdown", "Markdown", args.markdown, markdown),
        ("--html", "HTML", args.html, html),
    ]
    for flag, kind, target, render in outputs:
        if target is None:
            continue
        try:
            out = Path(target)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(render(results), encoding="utf-8")
        except OSError as exc:
            return usage(f"{flag}: cannot write {target}: {exc.strerror or exc}")
        # Said as soon as it is true: a later file that cannot be written stops the command.
        print(f"wrote {kind} report to {target}")
    # After the files: the summary's last line is the one to paste into a release ticket.
    for line in summary_lines(results):
        print(line)
    verdict = read(results).verdict
    return EXIT_OK if verdict == PASS else EXIT_INVALID if verdict == BLOCK else EXIT_INCOMPLETE


def _catalogue(args: argparse.Namespace) -> int:
    """Render the catalogue; exit 0, 1 when a case file failed to load (the page lists it), 2
    on bad usage or an unreadable results file."""
    from incident_evals.baseline import BaselineError, load_baseline
    from incident_evals.catalogue import Catalogue, CatalogueError
    from incident_evals.report.catalogue import (
        catalogue_html,
        catalogue_markdown,
        catalogue_view,
    )

    def usage(message: str) -> int:
        print(f"incident-evals catalogue: {message}", file=sys.stderr)
        return EXIT_USAGE

    named = args.dir or DEFAULT_CASES
    if not Path(named).exists():
        hint = "" if args.dir else " (the default catalogue: pass the folder of your cases)"
        return usage(f"{named}: no such file or directory{hint}")
    results = None
    if args.results is not None:
        try:
            results = load_baseline(Path(args.results))
        except BaselineError as exc:
            return usage(f"--results: {exc}")
    cwd = Path.cwd()
    if str(cwd) not in sys.path:
        # As `validate` does: `python:` checks of the cases import from the project.
        sys.path.insert(0, str(cwd))
    try:
        catalogue = Catalogue.load(named)
    except CatalogueError as exc:
        return usage(str(exc))
    errors = [error.render(cwd) for error in catalogue.errors]
    view = catalogue_view(catalogue.cases, errors, source=named, results=results)
    if args.markdown:
        sys.stdout.write(catalogue_markdown(view))
    else:
        try:
            out = Path(args.html)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(catalogue_html(view), encoding="utf-8")
        except OSError as exc:
            return usage(f"--html: cannot write {args.html}: {exc.strerror or exc}")
        print(f"wrote the catalogue of {view.totals()} to {args.html}")
    for error in errors:
        print(error, file=sys.stderr)
    return EXIT_INVALID if errors else EXIT_OK


def _status(item: dict[str, Any]) -> str | None:
    regression = item.get("regression")
    return regression.get("status") if isinstance(regression, dict) else None


def _schema(args: argparse.Namespace) -> int:
    from incident_evals.case import load_schema

    print(json.dumps(load_schema(args.which), indent=2))
    return EXIT_OK


def _new(args: argparse.Namespace) -> int:
    from incident_evals.intake import run

    return run(args)


#: ``calls``: how many words of the last user message and of the output a line shows.
SHOWN_WORDS = 8


def _calls(args: argparse.Namespace) -> int:
    from incident_evals.secrets import Scrubber
    from incident_evals.traces import TraceError
    from incident_evals.traces.formats import read_calls

    try:
        calls = read_calls(Path(args.file), args.format)
    except TraceError as exc:
        print(f"incident-evals calls: {exc}", file=sys.stderr)
        return EXIT_USAGE
    # What is printed lands in terminals and CI logs: credentials are taken out as `new` does.
    scrubber = Scrubber.from_environment()
    if args.json:
        shown = scrubber.deep([call.to_json() for call in calls])
        print(json.dumps(shown, indent=2, ensure_ascii=False))
        return EXIT_OK
    for call in calls:
        print(scrubber.text(_call_line(call)))
        for guess in call.guesses:
            print(scrubber.text(f"    guess: {guess}"))
    if not calls:
        print(f"{args.file}: no model calls")
    return EXIT_OK


def _call_line(call: ModelCall) -> str:
    users = [m.get("content") for m in call.messages if m.get("role") == "user"]
    asked = users[-1] if users and isinstance(users[-1], str) else None
    parts = [str(call.index), call.source.format, call.model or "(model unknown)"]
    parts.append(f"user: {_first_words(asked)}" if asked else "user: -")
    if call.tool_calls:
        made = ", ".join(f"{record.name}({record.arguments_raw})" for record in call.tool_calls)
        parts.append(f"calls: {_first_words(made, 3 * SHOWN_WORDS, quoted=False)}")
    if call.output is not None:
        parts.append(f"output: {_first_words(call.output)}")
    return "  ".join(parts)


def _first_words(text: str, count: int = SHOWN_WORDS, quoted: bool = True) -> str:
    words = text.split()
    shown = " ".join(words[:count]) + (" …" if len(words) > count else "")
    # Quoted as JSON: a message's line breaks and quotes stay on the one line.
    return json.dumps(shown, ensure_ascii=False) if quoted else shown


def _serve_local(args: argparse.Namespace) -> int:
    """The embedded model, for manual use, until Ctrl-C (or SIGTERM)."""
    import signal
    import time

    from incident_evals.local_model import (
        LocalModelError,
        LocalModelServer,
        LocalModelUnavailable,
        find_local_model,
    )

    try:
        find_local_model()
    except LocalModelUnavailable as exc:
        print(f"incident-evals serve-local: {exc}", file=sys.stderr)
        return EXIT_USAGE
    server = LocalModelServer(startup_timeout_s=args.startup_timeout, slots=args.slots)
    # SIGTERM stops it as Ctrl-C does: the server is a child that must not outlive us.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        server.start()
        seconds = server.wait_ready()
        print(
            f"embedded local model ready in {seconds:.1f} s: {server.base_url}, model "
            f"{server.model}, {server.slots} parallel slot{'s' if server.slots != 1 else ''}",
            flush=True,
        )
        print(
            f"  pytest --incident-evals --incident-base-url {server.base_url} "
            f"--incident-model {server.model}",
            flush=True,
        )
        print("Ctrl-C stops it.", flush=True)
        while server.is_running():
            time.sleep(0.5)
        print("incident-evals serve-local: the server exited", file=sys.stderr)
        return EXIT_INVALID
    except LocalModelError as exc:
        print(f"incident-evals serve-local: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except KeyboardInterrupt:
        return EXIT_OK
    finally:
        # A second Ctrl-C must not cut the shutdown short and leave the server running.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        server.close()


def _positive_seconds(text: str) -> float:
    from incident_evals.options import positive_float

    return positive_float(text)


def _positive_whole(text: str) -> int:
    from incident_evals.options import positive_int

    return positive_int(text)


def _whole_number(text: str) -> int:
    from incident_evals.options import non_negative_int

    return non_negative_int(text)


def _redaction_pattern(text: str) -> BoundedPattern:
    from incident_evals.intake import redaction_pattern
    from incident_evals.patterns import PatternError

    try:
        return redaction_pattern(text)
    except PatternError as exc:
        raise argparse.ArgumentTypeError(exc.describe(text)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="incident-evals",
        description="AI incidents as regression evals (pytest-incident-evals).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    new = commands.add_parser(
        "new",
        help="scaffold a case: from flags, by asking, or from a captured exchange",
        description="Write incident_cases/<category>/<id>.yaml: a case with the incident's "
        "fields, and with the exact trigger and the bad behaviour when built from a captured "
        "Chat Completions exchange (--from-openai), from a model call of a trace (--from-trace) "
        "or from the plugin's recordings (--from-recording). Missing title, category or "
        "severity are asked for when stdin is a terminal. `expect` is left empty for you to "
        "fill in. Never overwrites a file. Exit 0 when the case is written, 2 when nothing is.",
    )
    new.add_argument("--title", help="what went wrong, one line")
    new.add_argument("--category", help="correctness, safety, security, autonomy or fairness")
    new.add_argument("--severity", help="minor, major or critical")
    new.add_argument("--owner", help="the team or person who owns the case")
    new.add_argument("--postmortem", metavar="URL", help="link to the postmortem")
    new.add_argument(
        "--taxonomy",
        action="append",
        metavar="ID",
        help="an id of a published list the incident belongs to (OWASP LLM01, ASI01, MITRE "
        "ATLAS AML.T0051, AVID E0101); repeat for several",
    )
    new.add_argument(
        "--id",
        help="the case id (default INC-<year>-<title words>, or with --from-recording "
        "<case id>-<date>); also the file name",
    )
    new.add_argument(
        "--date",
        help="the incident's date, YYYY-MM-DD (default: the captured exchange's, else today)",
    )
    new.add_argument(
        "--cases",
        default=DEFAULT_CASES,
        metavar="DIR",
        help=f"the case catalogue to write into (default {DEFAULT_CASES})",
    )
    source = new.add_mutually_exclusive_group()
    source.add_argument(
        "--from-openai",
        metavar="FILE",
        help='a captured exchange: {"request": ..., "response": ...} as JSON, or one per line',
    )
    source.add_argument(
        "--from-trace",
        metavar="FILE",
        help="a trace or log file (see `incident-evals calls FILE` for the calls it holds)",
    )
    source.add_argument(
        "--from-recording",
        nargs=2,
        metavar=("DIR", "CASE_ID"),
        help="a case's recorded run (sample 0, its whole tool loop) in pytest "
        "--incident-record DIR",
    )
    new.add_argument(
        "--index",
        type=_whole_number,
        metavar="N",
        help="with --from-openai, the exchange of a JSONL file to use (from 0)",
    )
    new.add_argument(
        "--format",
        metavar="F",
        help="with --from-trace, the file's format (default: found from its content)",
    )
    new.add_argument(
        "--call",
        type=_whole_number,
        metavar="N",
        help="with --from-trace, the call to use (default: the last with a tool call or output)",
    )
    new.add_argument(
        "--redact",
        action="append",
        type=_redaction_pattern,
        metavar="REGEX",
        help="remove every match of REGEX (Python syntax) from what the case copies, beyond "
        "the credentials always taken out; repeat it for more",
    )
    new.set_defaults(run=_new)

    calls = commands.add_parser(
        "calls",
        help="list the model calls of a trace or log file",
        description="List the model calls a trace file holds, one line each (index, format, "
        "model, the last user message's first words, tool calls, output), with what the "
        "importer had to guess under each; --json prints them as new --from-trace reads them. "
        "Exit 0, 2 when the file cannot be read.",
    )
    calls.add_argument("file", metavar="FILE", help="a trace or log file")
    calls.add_argument(
        "--format",
        metavar="F",
        help="the file's format (default: found from its content): openai-chat, "
        "openai-responses, ...",
    )
    calls.add_argument("--json", action="store_true", help="print the calls as JSON")
    calls.set_defaults(run=_calls)

    validate = commands.add_parser(
        "validate",
        help="check case files against the schema and their cross-references",
        description="Check case files; print one `file:line: field: message` line per error. "
        "Exit 0 when all are valid, 1 when any is not, 2 on bad usage.",
    )
    validate.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="case files or folders of them (default incident_cases)",
    )
    validate.add_argument(
        "--check-recorded",
        action="store_true",
        help="also check that each case's constraints fail on its recorded_output / "
        "recorded_tool_calls (a case that would not catch its own incident is an error)",
    )
    validate.add_argument(
        "-v", "--verbose", action="store_true", help="with --check-recorded, a line per case"
    )
    _judge_options(
        validate,
        "with --check-recorded, calibrate each judge constraint with this judge model: it "
        "must fail the recorded output and pass every accepted output",
        "calibrate offline",
    )
    validate.set_defaults(run=_validate)

    scan = commands.add_parser(
        "scan",
        help="look for the catalogue's incidents in production logs",
        description="Check every model call of the logs (the formats `incident-evals calls` "
        "reads) against the catalogue's cases, as the runtime guard does, and report per "
        "incident its recurrences, first and last seen, and example calls. Exit 0 when no "
        "incident recurred at --fail-severity or above, 1 when one did, 2 on bad usage or when "
        "a case, a log record or a check could not be loaded, read or decided (and nothing "
        "recurred).",
    )
    scan.add_argument("logs", nargs="+", metavar="LOGS", help="log or trace files")
    scan.add_argument(
        "--cases",
        default=DEFAULT_CASES,
        metavar="DIR",
        help=f"the case catalogue (default {DEFAULT_CASES})",
    )
    scan.add_argument(
        "--format",
        metavar="F",
        help="the logs' format (default: found from each file's content)",
    )
    scan.add_argument(
        "--since",
        metavar="WHEN",
        help="only calls at or after WHEN: an ISO date or date and time (UTC unless it says), "
        "or a time ago (90m, 24h, 7d, 2w); calls the log gives no time are still checked",
    )
    scan.add_argument(
        "--fail-severity",
        choices=SEVERITIES_ASCENDING,
        default=SEVERITIES_ASCENDING[0],
        help="exit 1 when an incident of this severity or above recurred (default minor: any)",
    )
    scan.add_argument("--json", action="store_true", help="print the report as JSON")
    scan.add_argument(
        "--new-cases",
        metavar="DIR",
        help="write each call that broke an incident as a candidate case into DIR (as "
        "new --from-trace writes one), with the constraints it broke",
    )
    scan.add_argument(
        "--examples",
        type=_whole_number,
        default=DEFAULT_EXAMPLES,
        metavar="N",
        help=f"example calls shown per incident (default {DEFAULT_EXAMPLES})",
    )
    scan.add_argument(
        "--judge",
        action="store_true",
        help="also apply the cases' judge constraints to a seeded sample of the calls that "
        "match them (needs --judge-model or --judge-replay)",
    )
    scan.add_argument(
        "--sample",
        type=_rate,
        metavar="RATE",
        help="with --judge, the share of matching calls judged, above 0 and at most 1 "
        "(default 0.1)",
    )
    scan.add_argument(
        "--seed",
        type=_whole_number,
        default=0,
        help="the seed of the judge's sample and of the variants whose messages the guard "
        "recognises, as --incident-seed makes them (default 0)",
    )
    _judge_options(scan, "with --judge, the judge model", "judge offline")
    scan.set_defaults(run=_scan)

    variants = commands.add_parser(
        "variants",
        help="show a case's variants and what each changed",
        description="Generate the variants a run would use and show each one's provenance and "
        "a diff of its input against the case's. Exit 0, 1 when the case file has errors, 2 on "
        "bad usage.",
    )
    variants.add_argument("case", metavar="CASE", help="a case file")
    variants.add_argument("--id", help="only the case with this id (for a file of several)")
    variants.add_argument(
        "--seed", type=_whole_number, default=0, help="the variant seed (default 0)"
    )
    variants.add_argument(
        "--variants", default="all", help="none, all (default) or N generated variants per case"
    )
    variants.add_argument(
        "--generator-model",
        help="write paraphrase and translation variants with this model",
    )
    variants.add_argument(
        "--generator-base-url",
        help="the generator model's OpenAI-compatible endpoint (default: the SDK's)",
    )
    variants.add_argument(
        "--freeze",
        action="store_true",
        help="write the model-made variants into the case file as variants.cases",
    )
    variants.set_defaults(run=_variants)

    report = commands.add_parser(
        "report",
        help="render a results file: terminal summary, Markdown, self-contained HTML",
        description="Print the summary of a results file (pytest --incident-report) and "
        "optionally write it as Markdown and as one self-contained HTML page. With --baseline, "
        "every item's regression is recomputed against that results file and its items missing "
        "here are reported as removed; only regressions then block, unless --fail-on failures. "
        "Exit 0 PASS, 1 BLOCK (regressions, or failures under fail_on failures), 3 INCOMPLETE "
        "(errors, a run stopped early, or no items), 2 on bad usage or an unreadable or invalid "
        "file.",
    )
    report.add_argument("results", metavar="RESULTS", help="a results JSON file")
    report.add_argument("--baseline", metavar="B", help="a results JSON file to compare with")
    report.add_argument(
        "--alpha",
        metavar="A",
        help="significance level of the one-sided Fisher test with repeats (default 0.05)",
    )
    report.add_argument(
        "--fail-on",
        choices=["failures", "regressions"],
        help="what blocks: every failure, or regressions only (default: regressions with "
        "--baseline, else what the run used)",
    )
    report.add_argument("--markdown", metavar="F", help="write the summary as Markdown to F")
    report.add_argument("--html", metavar="F", help="write a self-contained HTML page to F")
    report.set_defaults(run=_report)

    catalogue = commands.add_parser(
        "catalogue",
        help="render the catalogue of incidents: what we know can go wrong",
        description="Render every incident of a case folder, per category and severity, with "
        "its summary, status, taxonomy ids, postmortem record (dates, impact, actions with "
        "owners and due dates; overdue actions flagged), its cases and variants, and with "
        "--results its last result; then an index per taxonomy list. Case files that fail to "
        "load are listed on the page. Exit 0, 1 when a case file failed to load, 2 on bad "
        "usage or an unreadable results file.",
    )
    catalogue.add_argument(
        "dir", nargs="?", metavar="DIR", help=f"the case folder (default {DEFAULT_CASES})"
    )
    written = catalogue.add_mutually_exclusive_group(required=True)
    written.add_argument("--html", metavar="FILE", help="write a self-contained HTML page")
    written.add_argument("--markdown", action="store_true", help="print Markdown to stdout")
    catalogue.add_argument(
        "--results",
        metavar="FILE",
        help="a results JSON (pytest --incident-report): each incident's last result",
    )
    catalogue.set_defaults(run=_catalogue)

    serve = commands.add_parser(
        "serve-local",
        help="start the embedded local model (llama.cpp, SmolLM2-135M) for manual use",
        description="Start the embedded model's OpenAI-compatible server on a free loopback "
        "port, print its URL and model, and serve until Ctrl-C. Needs the [local] extra. Exit 0 "
        "on Ctrl-C, 1 when the server fails or exits, 2 without the extra.",
    )
    serve.add_argument(
        "--startup-timeout",
        type=_positive_seconds,
        default=180.0,
        help="seconds to wait for the model to load (default 180)",
    )
    serve.add_argument(
        "--slots",
        type=_positive_whole,
        default=None,
        help="requests it answers at once (default: one per CPU, at most 8)",
    )
    serve.set_defaults(run=_serve_local)

    schema = commands.add_parser("schema", help="print a JSON Schema shipped with the package")
    schema.add_argument("which", nargs="?", choices=["case", "results"], default="case")
    schema.set_defaults(run=_schema)
    return parser


def _judge_options(parser: argparse.ArgumentParser, model_help: str, offline: str) -> None:
    """The judge endpoint's options, as ``validate`` and ``scan`` take them."""
    parser.add_argument("--judge-model", metavar="NAME", help=model_help)
    parser.add_argument(
        "--judge-base-url",
        metavar="URL",
        help="the judge model's OpenAI-compatible endpoint (default: the SDK's)",
    )
    parser.add_argument(
        "--judge-record",
        metavar="DIR",
        help="also write the judge's exchanges into DIR (as pytest --incident-record does)",
    )
    parser.add_argument(
        "--judge-replay",
        metavar="DIR",
        help=f"{offline} from the judge exchanges recorded in DIR (by --judge-record or "
        "pytest --incident-record)",
    )


def _rate(text: str) -> float:
    try:
        rate = float(text)
    except ValueError:
        rate = float("nan")
    if not 0 < rate <= 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a rate above 0 and at most 1")
    return rate


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
