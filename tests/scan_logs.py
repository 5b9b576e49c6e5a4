"""Production logs built from the example catalogue, for the scan's tests and benchmark: each
case's recorded incident (and its accepted outputs) as the Chat Completions exchange the
application would have logged, one JSONL record each."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from example_cases import example_catalogue
from incident_evals.constraints import LoadedCase
from incident_evals.recorded import has_recording
from incident_evals.replay import build_messages, build_tools

#: 2025-11-01T00:00:00Z: the logged calls' times count on from here.
T0 = 1_761_955_200


def exchange(
    loaded: LoadedCase,
    content: str | None,
    tool_calls: Sequence[dict[str, Any]] = (),
    created: int | None = T0,
) -> dict[str, Any]:
    """The ``{"request", "response"}`` record of a call that sent the case's trigger and got
    ``content`` and ``tool_calls`` (``{"name", "arguments"}``) back."""
    case = loaded.case
    request: dict[str, Any] = {"model": "gpt-4o-mini", "messages": build_messages(case.input)}
    if case.input.tools:
        request["tools"] = build_tools(case.input.tools)
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = [
            {
                "id": f"call_{n}",
                "type": "function",
                "function": {"name": call["name"], "arguments": json.dumps(call["arguments"])},
            }
            for n, call in enumerate(tool_calls)
        ]
    response: dict[str, Any] = {
        "id": f"chatcmpl-{case.id}",
        "object": "chat.completion",
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
    }
    if created is not None:
        response["created"] = created
    return {"request": request, "response": response}


def recorded(loaded: LoadedCase, created: int | None = T0) -> dict[str, Any]:
    """The case's recorded incident, logged."""
    case = loaded.case
    return exchange(loaded, case.recorded_output, case.recorded_tool_calls, created)


def accepted(loaded: LoadedCase, created: int | None = T0) -> list[dict[str, Any]]:
    """Each accepted output of the case, logged as the answer to its trigger."""
    return [
        exchange(loaded, output.output, output.tool_calls, created)
        for output in loaded.case.accepted_outputs
    ]


def example_cases() -> list[LoadedCase]:
    """The example catalogue's cases that record their incident."""
    return [entry for entry in example_catalogue().loaded if has_recording(entry)]


def write_jsonl(path: Path, records: Sequence[dict[str, Any]]) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path
