"""Traces and logs -> model calls: the front door for incidents found in production.

Every importer reads one format into the same normalised :class:`ModelCall`, and says in one line
(``guesses``) whatever it had to guess, because real files disagree with their own specs
(arguments as strings or objects, tool results in ``user`` messages, missing tool definitions,
ids that do not match, spans out of order). A model call becomes a case through the Chat
Completions exchange it is equivalent to (:meth:`ModelCall.chat_exchange`), so every format gets
the same case building as ``incident-evals new --from-openai``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "NO_TOOL_DEFINITIONS",
    "ModelCall",
    "Source",
    "ToolCallRecord",
    "TraceError",
    "infer_tools",
    "parse_arguments",
    "seconds",
]


#: How a guess that tool definitions were inferred from the calls begins.
NO_TOOL_DEFINITIONS = "the trace declares no tool definitions"


class TraceError(Exception):
    """A trace that cannot be read: one line naming the file (and line or span) and the problem."""


@dataclass(frozen=True)
class Source:
    """Where a call came from, kept in the case (``incident.source``) to link back to it."""

    #: The format's name, as ``--format`` takes it (``openai-chat``, ``otlp``, ...).
    format: str
    #: The file's name as given.
    file: str
    trace_id: str | None = None
    span_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        found = {"trace_id": self.trace_id, "span_id": self.span_id}
        return {
            "format": self.format,
            "file": self.file,
            **{key: value for key, value in found.items() if value is not None},
        }


@dataclass(frozen=True)
class ToolCallRecord:
    """One tool call the model made, with its arguments parsed, and the result it got."""

    id: str
    name: str
    #: The arguments as an object; ``None`` when the text was not a JSON object.
    arguments: dict[str, Any] | None
    #: The arguments exactly as the model wrote them.
    arguments_raw: str
    #: What the tool returned, when the trace has it.
    result: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "arguments": self.arguments,
            "arguments_raw": self.arguments_raw,
            "result": self.result,
        }


@dataclass(frozen=True)
class ModelCall:
    """One call to a model, normalised: what it was given, and what it did.

    ``messages`` are Chat Completions messages (``role``, ``content``, and ``tool_calls`` /
    ``tool_call_id`` where they apply), without the system text, which is ``system``. ``tools``
    are Chat Completions tool definitions (``{"type": "function", "function": {...}}``).
    ``tool_calls`` are the calls the model made in its answer; ``output`` its text.
    """

    index: int
    source: Source
    model: str | None
    system: str | None
    messages: tuple[dict[str, Any], ...]
    tools: tuple[dict[str, Any], ...] = ()
    tool_calls: tuple[ToolCallRecord, ...] = ()
    output: str | None = None
    #: Request parameters (temperature, max_tokens, ...), as Chat Completions names them.
    params: dict[str, Any] = field(default_factory=dict)
    #: What the importer had to guess, one line each.
    guesses: tuple[str, ...] = ()
    #: When the call was made (seconds since the epoch, UTC), when the trace says.
    time: float | None = None

    @property
    def tool_results(self) -> list[dict[str, Any]]:
        """The results of earlier tool calls the conversation holds: ``tool_call_id``, content."""
        return [
            {"tool_call_id": message.get("tool_call_id"), "content": message.get("content")}
            for message in self.messages
            if message.get("role") == "tool"
        ]

    def to_json(self) -> dict[str, Any]:
        """The call as ``incident-evals calls --json`` prints it."""
        return {
            "index": self.index,
            "format": self.source.format,
            "model": self.model,
            "system": self.system,
            "messages": [dict(message) for message in self.messages],
            "tools": [dict(tool) for tool in self.tools],
            "tool_calls": [call.to_json() for call in self.tool_calls],
            "tool_results": self.tool_results,
            "output": self.output,
            "source": self.source.to_json(),
            "guesses": list(self.guesses),
        }

    def chat_exchange(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The Chat Completions ``(request, response)`` pair this call is equivalent to."""
        messages = [{"role": "system", "content": self.system}] if self.system else []
        messages.extend(dict(message) for message in self.messages)
        request: dict[str, Any] = {"model": self.model or "unknown", "messages": messages}
        if self.tools:
            request["tools"] = [dict(tool) for tool in self.tools]
        request.update(self.params)
        message: dict[str, Any] = {"role": "assistant", "content": self.output}
        if self.tool_calls:
            message["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments_raw},
                }
                for call in self.tool_calls
            ]
        response: dict[str, Any] = {
            "object": "chat.completion",
            "model": self.model or "unknown",
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        }
        if self.time is not None:
            # The case's date, as a captured exchange gives it.
            response["created"] = int(self.time)
        return request, response


def parse_arguments(raw: Any) -> tuple[str, dict[str, Any] | None]:
    """Tool-call arguments as producers write them (a JSON string, or already an object): the
    text and, when it is a JSON object, the object."""
    if isinstance(raw, dict):
        return json.dumps(raw, ensure_ascii=False), raw
    text = raw if isinstance(raw, str) else json.dumps(raw, ensure_ascii=False)
    try:
        parsed = json.loads(text)
    except ValueError:
        return text, None
    return text, parsed if isinstance(parsed, dict) else None


def infer_tools(
    messages: list[dict[str, Any]], calls: list[ToolCallRecord]
) -> tuple[list[dict[str, Any]], str | None]:
    """Tool definitions inferred from the calls made, when the trace declares none: each tool
    takes the argument names it was called with. ``None`` guess when no tool was called."""
    seen: dict[str, dict[str, Any]] = {}
    made = [
        (call["function"]["name"], parse_arguments(call["function"]["arguments"])[1])
        for message in messages
        for call in message.get("tool_calls", ())
    ] + [(call.name, call.arguments) for call in calls]
    for name, arguments in made:
        properties = seen.setdefault(name, {})
        for key in arguments or {}:
            properties.setdefault(key, {})
    if not seen:
        return [], None
    tools = [
        {
            "type": "function",
            "function": {"name": name, "parameters": {"type": "object", "properties": properties}},
        }
        for name, properties in seen.items()
    ]
    return (
        tools,
        f"{NO_TOOL_DEFINITIONS}; inferred from the calls: {', '.join(seen)}",
    )


#: Times outside these bounds (before 2000, after 2100) are not taken as a call's time.
_EARLIEST, _LATEST = 946_684_800, 4_102_444_800


def seconds(value: Any, per_second: int = 1) -> float | None:
    """A timestamp as a producer writes it (a number, or its digits as a string), in units of
    ``1 / per_second`` s, as seconds since the epoch; ``None`` when it is no plausible time."""
    if isinstance(value, str) and value.isdigit() and len(value) <= 30:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    time = value / per_second
    return float(time) if _EARLIEST <= time <= _LATEST else None
