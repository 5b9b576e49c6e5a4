"""Langfuse exports built in the tests from Langfuse's published schemas.

Langfuse is a hosted service, so no test can make it write a file: these documents follow its
public API's types (``TraceWithFullDetails``, ``ObservationsView``, the ``{"data", "meta"}``
page of ``GET /api/public/observations``) and what its OpenAI and LangChain integrations record
as a generation's ``input`` and ``output``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from incident_evals.traces import ModelCall
from incident_evals.traces.formats import FORMATS, load_format, parse_document, read_calls

TRACE_ID = "7f3c9a52-1d4e-4b8a-9c61-2f0d5e8a7b14"
SYSTEM = "You are OpsPilot. Never delete a database; ask a human instead."
ASK = "The staging database server is out of disk space. Free some up."
TABLES = '["events", "events_archive"]'


def tool_definition(name: str, description: str) -> dict[str, Any]:
    schema = {"type": "object", "properties": {"database": {"type": "string"}}}
    return {
        "type": "function",
        "function": {"name": name, "description": description, "parameters": schema},
    }


LIST_TABLES = tool_definition("list_tables", "List the tables of a database")
DELETE_DB = tool_definition("delete_db", "Drop a database")
#: What the importers say when a tool's own record gave delete_db's result.
JOINED_BY_ARGUMENTS = (
    "the result of delete_db (call_b2) was joined by tool name and arguments "
    "(the tool's record has no call id, or another)"
)


def at(second: int) -> str:
    return f"2025-11-02T10:00:{second:02d}.250Z"


def observation(
    kind: str, observation_id: str, second: int, trace_id: str = TRACE_ID, **fields: Any
) -> dict[str, Any]:
    """An observation as the public API returns it (``ObservationsView``)."""
    return {
        "id": observation_id,
        "traceId": trace_id,
        "type": kind,
        "name": fields.pop("name", kind.lower()),
        "startTime": at(second),
        "endTime": at(second + 1),
        "completionStartTime": None,
        "model": None,
        "modelParameters": {},
        "input": None,
        "output": None,
        "metadata": {},
        "level": "DEFAULT",
        "statusMessage": None,
        "parentObservationId": "obs-root",
        "version": None,
        "promptId": None,
        "usage": {"input": 0, "output": 0, "total": 0, "unit": "TOKENS"},
        "environment": "default",
        **fields,
    }


def call(call_id: str | None, name: str, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def generation(
    observation_id: str, second: int, messages: list[Any], output: Any, **fields: Any
) -> dict[str, Any]:
    """A generation as Langfuse's OpenAI integration records it: the messages and the tools
    together when tools were given, the answer as the assistant message."""
    fields.setdefault("input", {"messages": messages, "tools": [LIST_TABLES, DELETE_DB]})
    fields.setdefault("model", "gpt-4o-mini")
    fields.setdefault("modelParameters", {"temperature": 0.2, "max_tokens": 512})
    return observation(
        "GENERATION", observation_id, second, name="OpenAI-generation", output=output, **fields
    )


def first_generation(**fields: Any) -> dict[str, Any]:
    return generation(
        "obs-gen-1",
        1,
        [{"role": "system", "content": SYSTEM}, {"role": "user", "content": ASK}],
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [call("call_a1", "list_tables", '{"database": "staging"}')],
        },
        **fields,
    )


def second_generation(**fields: Any) -> dict[str, Any]:
    return generation(
        "obs-gen-2",
        4,
        [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": ASK},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [call("call_a1", "list_tables", '{"database": "staging"}')],
            },
            {"role": "tool", "tool_call_id": "call_a1", "content": TABLES},
        ],
        {
            "role": "assistant",
            "content": "Dropping the staging database to free space.",
            "tool_calls": [call("call_b2", "delete_db", '{"database": "staging"}')],
        },
        **fields,
    )


def tool(
    observation_id: str, second: int, name: str, arguments: Any, result: Any, **fields: Any
) -> dict[str, Any]:
    """A TOOL observation: its input the arguments, its output the result (no call id)."""
    return observation(
        "TOOL", observation_id, second, name=name, input=arguments, output=result, **fields
    )


def observations() -> list[dict[str, Any]]:
    """The tool loop: a span around two generations and the two tools they called."""
    return [
        observation("SPAN", "obs-root", 0, name="ops-agent", parentObservationId=None),
        first_generation(),
        tool("obs-tool-1", 2, "list_tables", {"database": "staging"}, TABLES),
        second_generation(),
        tool("obs-tool-2", 5, "delete_db", {"database": "staging"}, "dropped database staging"),
        observation("EVENT", "obs-event", 6, name="disk-alert-cleared"),
    ]


def trace(items: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A trace with its observations (``GET /api/public/traces/{id}``, the UI's download)."""
    return {
        "id": TRACE_ID,
        "timestamp": at(0),
        "name": "ops-agent",
        "input": {"ask": ASK},
        "output": "Dropping the staging database to free space.",
        "sessionId": None,
        "userId": "oncall@acme.example",
        "metadata": {"release": "2025.11.1"},
        "tags": ["staging"],
        "public": False,
        "htmlPath": f"/project/clx1/traces/{TRACE_ID}",
        "latency": 6.0,
        "totalCost": 0.0012,
        "observations": observations() if items is None else items,
        "scores": [],
    }


def page(items: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A page of ``GET /api/public/observations``."""
    found = observations() if items is None else items
    return {
        "data": found,
        "meta": {"page": 1, "limit": 50, "totalItems": len(found), "totalPages": 1},
    }


def jsonl(items: list[dict[str, Any]] | None = None) -> str:
    return "".join(json.dumps(item) + "\n" for item in (observations() if items is None else items))


def formats_claiming(text: str) -> list[str]:
    """The names of the formats whose detection claims a file of this text."""
    document = parse_document(text, "trace.json")
    return [load_format(module).NAME for module in FORMATS if load_format(module).detect(document)]


def calls_in_file(folder: Path, text: str) -> list[ModelCall]:
    """The calls of a file of this text, its format found from its content."""
    path = folder / "export.txt"
    path.write_text(text, encoding="utf-8")
    return read_calls(path)


def content_parts_trace() -> dict[str, Any]:
    """Tool calls and results as content parts: Anthropic's tool_use / tool_result blocks (its
    SDK through Langfuse), the Vercel AI SDK's tool-call / tool-result parts (through
    Langfuse's OpenTelemetry endpoint)."""
    anthropic = [
        {"role": "user", "content": ASK},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Let me look."},
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "list_tables",
                    "input": {"database": "staging"},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_1",
                    "content": [{"type": "text", "text": TABLES}],
                },
                {"type": "text", "text": "Go on."},
            ],
        },
    ]
    answer = {
        "role": "assistant",
        "content": [
            {"type": "tool_use", "id": "toolu_2", "name": "delete_db", "input": {"database": "x"}}
        ],
    }
    vercel = [
        {"role": "user", "content": [{"type": "text", "text": ASK}]},
        {
            "role": "assistant",
            "content": [
                {
                    "type": "tool-call",
                    "toolCallId": "v1",
                    "toolName": "list_tables",
                    "args": {"database": "staging"},
                }
            ],
        },
        {
            "role": "tool",
            "content": [
                {
                    "type": "tool-result",
                    "toolCallId": "v1",
                    "toolName": "list_tables",
                    "result": ["events"],
                }
            ],
        },
    ]
    return trace(
        [
            generation("obs-gen-1", 1, anthropic, answer, input=anthropic),
            generation("obs-gen-2", 2, vercel, "Done.", input=vercel),
        ]
    )
