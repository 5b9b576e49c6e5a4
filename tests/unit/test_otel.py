"""Findings as ``gen_ai.evaluation.result`` events, read back from the SDK's in-memory exporter."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Tracer

from case_files import case_data, write_case
from incident_evals import Catalogue, otel
from incident_evals.guard import Finding, Guard

QUESTION = [{"role": "user", "content": "Can I get a refund after 45 days?"}]


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tracer(exporter: InMemorySpanExporter) -> Iterator[Tracer]:
    # A provider of its own, not the global one: the current span is all the guard reads.
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider.get_tracer("app")
    provider.shutdown()


def catalogue(tmp_path: Path) -> Catalogue:
    data = case_data(
        "refund",
        severity="critical",
        expect=[{"not_contains": "60 days"}, {"contains_any": ["30 days"]}],
        input={"messages": QUESTION},
    )
    data["incident"]["taxonomy"] = ["LLM09"]
    write_case(tmp_path, "refund.yaml", data)
    loaded = Catalogue.load(tmp_path)
    assert not loaded.errors, [e.render() for e in loaded.errors]
    return loaded


def only_span(exporter: InMemorySpanExporter) -> ReadableSpan:
    [span] = exporter.get_finished_spans()
    return span


def test_each_finding_is_an_evaluation_event_on_the_current_span(
    tmp_path: Path, tracer: Tracer, exporter: InMemorySpanExporter
) -> None:
    guard = catalogue(tmp_path).guard()

    with tracer.start_as_current_span("chat gpt-4o-mini"):
        result = guard.check_output("You have 60 days.", messages=QUESTION)

    events = only_span(exporter).events
    assert [event.name for event in events] == ["gen_ai.evaluation.result"] * 2
    assert [dict(event.attributes or {}) for event in events] == [
        {
            "gen_ai.evaluation.name": "refund",
            "gen_ai.evaluation.score.label": "fail",
            "gen_ai.evaluation.explanation": finding.message,
            "incident_evals.constraint": finding.constraint,
            "incident_evals.severity": "critical",
            "incident_evals.stage": "output",
            "incident_evals.source": "guard",
            "incident_evals.taxonomy": ("LLM09",),
        }
        for finding in result.findings
    ]


def test_an_allowed_check_emits_nothing(
    tmp_path: Path, tracer: Tracer, exporter: InMemorySpanExporter
) -> None:
    guard = catalogue(tmp_path).guard()

    with tracer.start_as_current_span("chat"):
        assert guard.check_output("The window is 30 days.", messages=QUESTION).allowed

    assert only_span(exporter).events == ()


def test_otel_false_emits_nothing(
    tmp_path: Path, tracer: Tracer, exporter: InMemorySpanExporter
) -> None:
    guard: Guard = catalogue(tmp_path).guard(otel=False)

    with tracer.start_as_current_span("chat"):
        assert not guard.check_output("You have 60 days.", messages=QUESTION).allowed

    assert only_span(exporter).events == ()


FINDING = Finding("c", "not_contains", "major", (), "output", "not contains '60 days'", "60 days")


def test_the_scan_names_itself_and_the_response(
    tracer: Tracer, exporter: InMemorySpanExporter
) -> None:
    with tracer.start_as_current_span("scan"):
        assert otel.emit_findings([FINDING], source="scan", response_id="chatcmpl-1") == 1

    [event] = only_span(exporter).events
    attributes = dict(event.attributes or {})
    assert attributes["incident_evals.source"] == "scan"
    assert attributes["gen_ai.response.id"] == "chatcmpl-1"
    assert "incident_evals.taxonomy" not in attributes


def test_without_a_recording_span_nothing_is_emitted() -> None:
    assert otel.emit_findings([FINDING], source="guard") == 0


def test_without_opentelemetry_nothing_is_emitted(
    tracer: Tracer, exporter: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As if the extra were not installed: importing the package fails.
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    otel._trace.cache_clear()
    try:
        with tracer.start_as_current_span("chat"):
            assert otel.emit_findings([FINDING], source="guard") == 0
    finally:
        monkeypatch.undo()
        otel._trace.cache_clear()

    assert only_span(exporter).events == ()
