"""Scan hits as OpenTelemetry spans, collected by the SDK's in-memory exporter: one span per
call that broke an incident, linked to the logged call's own span, under the scan's span."""

from __future__ import annotations

import json
from pathlib import Path

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import genai_agent_run as ga
from case_files import case_data, write_case
from incident_evals.catalogue import Catalogue
from incident_evals.scan import Scanner
from incident_evals.traces.formats import read_calls


def agent_run_and_catalogue(tmp_path: Path) -> tuple[Path, Catalogue]:
    """An OTLP log of the agent run, and a critical case its e-mail-sending reply breaks."""
    log = tmp_path / "otlp.json"
    log.write_text(json.dumps(ga.agent_run()), encoding="utf-8")
    write_case(
        tmp_path,
        "cases/case.yaml",
        case_data(
            "INC-OTEL",
            severity="critical",
            input={"messages": [{"role": "user", "content": ga.ASK}]},
            expect=[{"not_contains": "Sending it now"}],
        ),
    )
    return log, Catalogue.load(tmp_path / "cases")


def test_each_hit_is_a_span_linked_to_the_logged_call(tmp_path: Path) -> None:
    log, catalogue = agent_run_and_catalogue(tmp_path)
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))

    scanner = Scanner(
        catalogue.guard(otel=False), catalogue.loaded, tracer=provider.get_tracer("test")
    )
    report = scanner.scan([log])

    [hit_call] = [call for call in read_calls(log) if "Sending it now" in (call.output or "")]
    assert report.recurrences["INC-OTEL"].count == 1
    spans = {span.name: span for span in exporter.get_finished_spans()}
    assert set(spans) == {"incident-evals scan", "incident-evals scan hit"}
    hit, scan = spans["incident-evals scan hit"], spans["incident-evals scan"]
    assert hit.parent is not None
    assert hit.parent.span_id == scan.context.span_id
    [link] = hit.links
    assert f"{link.context.trace_id:032x}" == hit_call.source.trace_id
    assert f"{link.context.span_id:016x}" == hit_call.source.span_id
    assert hit.attributes is not None
    assert hit.attributes["incident_evals.case_ids"] == ("INC-OTEL",)
    assert hit.attributes["incident_evals.scan.where"] == f"{log}:1"
    assert hit.attributes["incident_evals.scan.trace_id"] == hit_call.source.trace_id
    [event] = hit.events
    assert event.name == "gen_ai.evaluation.result"
    assert event.attributes is not None
    assert event.attributes["gen_ai.evaluation.name"] == "INC-OTEL"
    assert event.attributes["incident_evals.constraint"] == "not_contains"
    assert event.attributes["incident_evals.source"] == "scan"
    assert event.attributes["incident_evals.severity"] == "critical"
    assert scan.events == ()


def test_a_scan_without_a_tracer_still_finds_the_hit(tmp_path: Path) -> None:
    log, catalogue = agent_run_and_catalogue(tmp_path)
    report = Scanner(catalogue.guard(otel=False), catalogue.loaded, tracer=None).scan([log])
    assert report.recurrences["INC-OTEL"].count == 1
