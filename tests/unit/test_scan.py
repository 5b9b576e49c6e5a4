"""The monitoring scan: the example catalogue's incidents found in logs, exactly as often as they
recur; times, ``--since``, the severity floor, the judge's sample, and what cannot be read."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import genai_agent_run as ga
import inspect_logs as il
import langfuse_fixtures as lf
import langsmith_fixtures as ls
import openai_exchanges as ox
import openinference_agent_run as oi
import otel_producers as op
import promptfoo_fixtures as pf
import scan_logs
import sdk_streams
from case_files import case_data, write_case
from chat_server import ChatServer
from example_cases import example_catalogue
from incident_evals.catalogue import Catalogue
from incident_evals.scan import LISTED, Scanner, ScanReport, iso, parse_since, render, sampled
from incident_evals.traces.formats import read_calls


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return example_catalogue()


def scanner(catalogue: Catalogue, **options: Any) -> Scanner:
    return Scanner(catalogue.guard(otel=False), catalogue.loaded, **options)


def test_a_log_mixing_incidents_and_accepted_outputs_gives_exact_counts(
    catalogue: Catalogue, tmp_path: Path
) -> None:
    cases = scan_logs.example_cases()
    assert len(cases) >= 10
    records: list[dict[str, Any]] = []
    expected: Counter[str] = Counter()
    times: dict[str, list[int]] = {}
    good = 0
    for n, entry in enumerate(cases):
        # Each incident recurs a different number of times (1 to 3), interleaved with the
        # accepted outputs, which must never count.
        for k in range(n % 3 + 1):
            created = scan_logs.T0 + 3600 * (7 * n + k)
            records.append(scan_logs.recorded(entry, created))
            expected[entry.case.id] += 1
            times.setdefault(entry.case.id, []).append(created)
            for allowed in scan_logs.accepted(entry, created + 1):
                records.append(allowed)
                good += 1
    assert good >= 1, "the example catalogue has accepted outputs"
    path = scan_logs.write_jsonl(tmp_path / "production.jsonl", records)

    report = scanner(catalogue).scan([path])

    assert report.unreadable == []
    assert report.undecided == []
    assert report.calls == report.checked == len(records)
    assert {key: found.count for key, found in report.recurrences.items()} == dict(expected)
    for key, found in report.recurrences.items():
        assert (found.first_seen, found.last_seen) == (min(times[key]), max(times[key]))
        assert [example.where for example in found.examples] == [
            f"{path}:{line}"
            for line, record in enumerate(records, 1)
            if record["response"]["id"] == f"chatcmpl-{key}"
            and record["response"]["created"] in times[key]
        ][:3]
        assert all(example.findings for example in found.examples)
    assert report.exit_status() == 1


def test_accepted_outputs_alone_are_clean(catalogue: Catalogue, tmp_path: Path) -> None:
    records = [
        record for entry in scan_logs.example_cases() for record in scan_logs.accepted(entry)
    ]
    assert records
    report = scanner(catalogue).scan([scan_logs.write_jsonl(tmp_path / "good.jsonl", records)])
    assert (report.checked, report.recurrences, report.exit_status()) == (len(records), {}, 0)


def test_since_skips_older_calls_and_checks_calls_without_a_time(
    catalogue: Catalogue, tmp_path: Path
) -> None:
    [entry, *_] = scan_logs.example_cases()
    records = [
        scan_logs.recorded(entry, scan_logs.T0),
        scan_logs.recorded(entry, scan_logs.T0 + 86_400),
        scan_logs.recorded(entry, None),
    ]
    path = scan_logs.write_jsonl(tmp_path / "log.jsonl", records)
    since = parse_since(iso(scan_logs.T0 + 3600) or "")

    report = scanner(catalogue, since=since).scan([path])

    assert (report.calls, report.before_since, report.checked, report.without_time) == (3, 1, 2, 1)
    found = report.recurrences[entry.case.id]
    assert (found.count, found.without_time) == (2, 1)
    assert found.first_seen == found.last_seen == scan_logs.T0 + 86_400


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-11-02", "2025-11-02T00:00:00Z"),
        ("2025-11-02T09:30:00Z", "2025-11-02T09:30:00Z"),
        ("2025-11-02T09:30:00+02:00", "2025-11-02T07:30:00Z"),
        ("2025-11-02T09:30", "2025-11-02T09:30:00Z"),
        ("90m", "2025-11-01T22:30:00Z"),
        ("24h", "2025-11-01T00:00:00Z"),
        ("7d", "2025-10-26T00:00:00Z"),
        ("2w", "2025-10-19T00:00:00Z"),
    ],
)
def test_since_takes_iso_times_and_times_ago(text: str, expected: str) -> None:
    now = scan_logs.T0 + 86_400
    assert iso(parse_since(text, now=now)) == expected


@pytest.mark.parametrize("text", ["yesterday", "7 days", "2025-13-01", "-7d", ""])
def test_since_refuses_what_is_no_time(text: str) -> None:
    with pytest.raises(ValueError, match="is not a time: give an ISO date"):
        parse_since(text)


def test_the_severity_floor_decides_the_exit_status(catalogue: Catalogue, tmp_path: Path) -> None:
    major = next(e for e in scan_logs.example_cases() if e.case.incident.severity == "major")
    path = scan_logs.write_jsonl(tmp_path / "log.jsonl", [scan_logs.recorded(major)])
    statuses = {
        floor: scanner(catalogue, fail_severity=floor).scan([path]).exit_status()
        for floor in ("minor", "major", "critical")
    }
    assert statuses == {"minor": 1, "major": 1, "critical": 0}


def test_what_cannot_be_read_is_never_a_pass(catalogue: Catalogue, tmp_path: Path) -> None:
    entry = next(e for e in scan_logs.example_cases() if e.case.accepted_outputs)
    good = json.dumps(scan_logs.accepted(entry)[0])
    path = tmp_path / "log.jsonl"
    path.write_text(f"{good}\n{{broken\n{good}\n", encoding="utf-8")
    clean = scanner(catalogue).scan([path, tmp_path / "missing.jsonl"])
    assert (clean.checked, clean.recurrences) == (2, {})
    assert clean.unreadable[0].startswith(f"{path}:2: not JSON")
    assert clean.unreadable[-1] == f"{tmp_path / 'missing.jsonl'}: no such file"
    assert clean.exit_status() == 2
    document = clean.to_json()
    assert document["unreadable"] == clean.unreadable
    assert document["summary"]["exit_status"] == 2


def test_calls_without_a_user_message_are_counted(catalogue: Catalogue, tmp_path: Path) -> None:
    streamed = sdk_streams.streamed_call()
    path = tmp_path / "chunks.jsonl"
    path.write_text(streamed.chunks_jsonl(), encoding="utf-8")
    report = scanner(catalogue).scan([path])
    assert (report.checked, report.without_conversation) == (1, 1)
    assert render(report)[0].endswith("(1 checked; 1 without a user message)")


def test_a_log_of_garbage_keeps_the_first_lines_and_counts_the_rest(
    catalogue: Catalogue, tmp_path: Path
) -> None:
    [entry, *_] = scan_logs.example_cases()
    path = tmp_path / "log.jsonl"
    with path.open("w", encoding="utf-8") as handle:
        handle.write(json.dumps(scan_logs.recorded(entry)) + "\n")
        handle.write("{garbage\n" * (LISTED + 50))
    report = scanner(catalogue).scan([path])
    assert report.unreadable_count == LISTED + 50
    assert len(report.unreadable) == LISTED
    assert report.unreadable[-1].startswith(f"{path}:{LISTED + 1}: not JSON")
    assert report.recurrences[entry.case.id].count == 1
    lines = render(report)
    assert f"unreadable ({LISTED + 50}):" in lines
    assert "  ... and 50 more" in lines


def test_the_judge_sample_is_seeded_and_independent_of_order() -> None:
    places = [f"log.jsonl:{n}" for n in range(1, 2001)]
    chosen = {where for where in places if sampled(7, where, 0.25)}
    assert 400 < len(chosen) < 600
    assert chosen == {where for where in reversed(places) if sampled(7, where, 0.25)}
    assert chosen != {where for where in places if sampled(8, where, 0.25)}
    assert all(sampled(0, where, 1.0) for where in places[:10])


def test_the_json_report_has_its_documented_keys(catalogue: Catalogue, tmp_path: Path) -> None:
    [entry, *_] = scan_logs.example_cases()
    path = scan_logs.write_jsonl(tmp_path / "log.jsonl", [scan_logs.recorded(entry)])
    document = scanner(catalogue).scan([path]).to_json()
    assert set(document) == {
        "schema_version", "files", "since", "calls", "checked", "before_since", "without_time",
        "without_conversation",
        "case_errors", "unreadable", "unreadable_count", "undecided", "undecided_count", "judge",
        "incidents", "summary",
    }  # fmt: skip
    [incident] = document["incidents"]
    assert set(incident) == {
        "case_id", "title", "severity", "category", "taxonomy", "recurrences", "first_seen",
        "last_seen", "without_time", "constraints", "examples",
    }  # fmt: skip
    [example] = incident["examples"]
    assert set(example) == {
        "where",
        "file",
        "call",
        "format",
        "trace_id",
        "span_id",
        "time",
        "findings",
    }
    assert set(example["findings"][0]) == {"constraint", "stage", "message", "span"}
    assert document["summary"] == {
        "incidents": 1,
        "recurrences": 1,
        "fail_severity": "minor",
        "failing": [entry.case.id],
        "exit_status": 1,
    }
    assert ScanReport().to_json()["summary"]["exit_status"] == 0


# --- every importer format -------------------------------------------------------------------


def _responses_pair() -> str:
    request = {"model": "gpt-4.1", "input": [{"role": "user", "content": ox.QUESTION}]}
    response = ox.stored_response([ox.output_message(ox.ANSWER, 0)], 0, [])
    return json.dumps({"request": request, "response": response}) + "\n"


#: ``(file name, its text, the conversation's last user message, a phrase of the bad answer)``.
FORMATS: dict[str, Callable[[], tuple[str, str, str, str]]] = {
    "openai-chat jsonl": lambda: ("a.jsonl", ox.jsonl(ox.pairs()), ox.QUESTION, "refund of $120"),
    "openai-chat cassette": lambda: (
        "a.yaml",
        ox.cassette(ox.tool_loop()),
        ox.QUESTION,
        "refund of $120",
    ),
    "openai-chat stream": lambda: (
        "a.json",
        sdk_streams.streamed_call().pair_with_sse(),
        ox.QUESTION,
        "refund it",
    ),
    "openai-responses": lambda: ("a.jsonl", _responses_pair(), ox.QUESTION, "refund of $120"),
    "otlp": lambda: ("a.json", json.dumps(ga.agent_run()), ga.ASK, "sending it now"),
    "openinference": lambda: ("a.json", json.dumps(oi.run()), oi.ASK, "sending it now"),
    "langfuse": lambda: ("a.json", json.dumps(lf.trace()), lf.ASK, "dropping the staging"),
    "langfuse jsonl": lambda: ("a.jsonl", lf.jsonl(), lf.ASK, "dropping the staging"),
    "langsmith": lambda: ("a.jsonl", ls.jsonl(), ls.ASK, "dropping the staging"),
    "inspect": lambda: (
        "a.json",
        json.dumps(il.eval_log([il.tool_loop_sample()])),
        "Where is order B2?",
        "is lost",
    ),
    "promptfoo": lambda: (
        "a.json",
        json.dumps(pf.results_file([*pf.refund_rows(), pf.promised_refund_row()])),
        pf.ASK,
        "i have refunded",
    ),
}


@pytest.mark.parametrize("name", list(FORMATS))
def test_the_scan_reads_every_importer_format(name: str, tmp_path: Path) -> None:
    file, text, ask, phrase = FORMATS[name]()
    log = tmp_path / file
    log.write_text(text, encoding="utf-8")
    scanned_finds_the_phrase(log, ask, phrase, tmp_path)


@pytest.mark.parametrize("mode", op.MODES)
def test_the_scan_reads_what_real_otel_producers_write(
    mode: op.Mode, chat_server: ChatServer, tmp_path: Path
) -> None:
    log = op.produce(mode, op.tool_loop, chat_server).write(tmp_path / "otel.jsonl")
    scanned_finds_the_phrase(log, op.ASK, "finance@acme.example (4 members)", tmp_path)


def scanned_finds_the_phrase(log: Path, ask: str, phrase: str, tmp_path: Path) -> None:
    """A case whose trigger is ``ask`` and whose answer must not hold ``phrase``: the scan finds
    it in exactly the calls of ``log`` that the importer reads as that question and answer."""
    write_case(
        tmp_path,
        "cases/case.yaml",
        case_data(
            "INC-FORMAT",
            severity="critical",
            input={"messages": [{"role": "user", "content": ask}]},
            expect=[{"not_contains": phrase}],
        ),
    )
    catalogue = Catalogue.load(tmp_path / "cases")
    # What the importer reads, counted apart from the scan.
    calls = read_calls(log)
    expected = [
        call
        for call in calls
        if phrase.casefold() in (call.output or "").casefold()
        and [m["content"] for m in call.messages if m.get("role") == "user"][-1:] == [ask]
    ]
    assert expected, "the fixture holds the bad answer"

    report = scanner(catalogue).scan([log])

    assert report.unreadable == []
    assert report.undecided == []
    assert report.calls == len(calls)
    found = report.recurrences["INC-FORMAT"]
    assert found.count == len(expected)
    example = found.examples[0]
    assert example.format == expected[0].source.format
    assert (example.trace_id, example.span_id) == (
        expected[0].source.trace_id,
        expected[0].source.span_id,
    )
    assert example.findings[0].constraint == "not_contains"
    assert phrase.casefold() in example.findings[0].span.casefold()
