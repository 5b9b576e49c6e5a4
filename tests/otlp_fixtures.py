"""OTLP JSON documents built in the tests, as OpenTelemetry exporters write them.

OTLP JSON writes attribute values as typed ``AnyValue`` objects, 64-bit integers (``intValue``,
``*UnixNano`` times) as strings, and trace and span ids as hex.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable
from typing import Any

import pytest

from incident_evals.traces import TraceError

TRACE_ID = "5b8efff798038103d269b633813fc60c"


def value(python: Any) -> dict[str, Any]:
    """A Python value as an OTLP ``AnyValue``."""
    if isinstance(python, bool):
        return {"boolValue": python}
    if isinstance(python, int):
        return {"intValue": str(python)}
    if isinstance(python, float):
        return {"doubleValue": python}
    if isinstance(python, str):
        return {"stringValue": python}
    if isinstance(python, list):
        return {"arrayValue": {"values": [value(item) for item in python]}}
    if isinstance(python, dict):
        return {"kvlistValue": {"values": attributes(python)}}
    if python is None:
        return {}
    raise TypeError(python)


def attributes(values: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": key, "value": value(item)} for key, item in values.items()]


def span(
    span_id: str,
    attrs: dict[str, Any],
    *,
    start: int,
    name: str = "chat gpt-4o-mini",
    trace_id: str = TRACE_ID,
    events: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    built: dict[str, Any] = {
        "traceId": trace_id,
        "spanId": span_id,
        "name": name,
        "kind": 3,
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(start + 900_000_000),
        "attributes": attributes(attrs),
        "status": {},
    }
    if events is not None:
        built["events"] = events
    return built


def traces(
    *spans: dict[str, Any], scope: str = "opentelemetry.instrumentation.openai_v2"
) -> dict[str, Any]:
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": attributes({"service.name": "mailpilot"})},
                "scopeSpans": [
                    {"scope": {"name": scope, "version": "2.1b0"}, "spans": list(spans)}
                ],
            }
        ]
    }


def log_record(event: str, body: Any, *, span_id: str | None, time: int) -> dict[str, Any]:
    record: dict[str, Any] = {
        "timeUnixNano": str(time),
        "observedTimeUnixNano": str(time),
        "eventName": event,
        "attributes": attributes({"gen_ai.system": "openai"}),
        "body": value(body),
        "traceId": TRACE_ID,
    }
    if span_id is not None:
        record["spanId"] = span_id
    return record


def logs(*records: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceLogs": [
            {
                "resource": {"attributes": attributes({"service.name": "mailpilot"})},
                "scopeLogs": [
                    {
                        "scope": {"name": "opentelemetry.instrumentation.openai_v2"},
                        "logRecords": list(records),
                    }
                ],
            }
        ]
    }


def text(content: str) -> dict[str, Any]:
    return {"type": "text", "content": content}


def encoded(python: Any) -> str:
    return json.dumps(python)


def inferred_tool(name: str, *arguments: str) -> dict[str, Any]:
    """A tool definition as the importers infer it from the calls made."""
    properties: dict[str, Any] = {argument: {} for argument in arguments}
    return {
        "type": "function",
        "function": {"name": name, "parameters": {"type": "object", "properties": properties}},
    }


def one_line_error(read: Callable[[Any, str], Any], document: Any) -> str:
    """The error an importer gives on a bad document: one line, naming the file first."""
    with pytest.raises(TraceError) as caught:
        read(document, "bad.json")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("bad.json")
    return message


_JUNK: list[Any] = [
    None,
    1,
    "x",
    [],
    {},
    [1],
    {"a": 1},
    True,
    -1.5,
    "[",
    '{"role": 1}',
    [{"stringValue": 1}],
    {"stringValue": "[]"},
    {"intValue": "9" * 50},
    {"kvlistValue": {"values": [1]}},
]


def _places(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(node, dict):
        for key, item in node.items():
            found += _places(item, (*path, key))
    elif isinstance(node, list):
        for index, item in enumerate(node):
            found += _places(item, (*path, index))
    return found


def mutants(seeds: list[Any], count: int, seed: int = 13) -> list[Any]:
    """``count`` damaged copies of the seed documents: a value replaced by junk of another
    type, or JSON text cut in half, at one to three places each."""
    rng = random.Random(seed)
    made = []
    for _ in range(count):
        document = copy.deepcopy(rng.choice(seeds))
        for _ in range(rng.randint(1, 3)):
            # Places are listed again after each change: a change can remove some.
            *parents, last = rng.choice(_places(document)[1:])
            node = document
            for key in parents:
                node = node[key]
            old = node[last]
            if isinstance(old, str) and rng.random() < 0.3:
                node[last] = old[: len(old) // 2]
            else:
                node[last] = copy.deepcopy(rng.choice(_JUNK))
        made.append(document)
    return made


def read_or_one_line_error(read: Callable[[Any, str], Any], document: Any) -> None:
    """An importer on a damaged document: calls, or one ``TraceError`` line; nothing else."""
    problem = ""
    try:
        read(document, "damaged.json")
    except TraceError as error:
        problem = str(error)
    assert "\n" not in problem
