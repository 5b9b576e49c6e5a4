"""Items -> requests -> transcript: one sample of one case replayed against the endpoint.

Tools are never executed: each call the model makes is answered with the first recorded
response whose ``when`` is a subset of the call's parsed arguments, else the fallback.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from incident_evals.case import DEFAULT_DOCUMENT_TEMPLATE, CaseInput, IncidentCase, Tool
from incident_evals.transcript import Exchange, ToolCall, Transcript

if TYPE_CHECKING:
    from collections.abc import Sequence

NO_RECORDED_RESPONSE = {"error": "no recorded response for this call"}
#: Model params a case may set; ``model.name`` is the record of what ran, never sent.
REQUEST_PARAMS = (
    "temperature",
    "top_p",
    "max_tokens",
    "seed",
    "stop",
    "presence_penalty",
    "frequency_penalty",
)


class Completer(Protocol):
    def complete(self, request: dict[str, Any]) -> tuple[dict[str, Any], float]: ...


def render_documents(case_input: CaseInput) -> str:
    template = case_input.document_template or DEFAULT_DOCUMENT_TEMPLATE
    return "\n".join(
        template.format(id=doc.id, title=doc.title, content=doc.content)
        for doc in case_input.documents
    )


def build_messages(case_input: CaseInput) -> list[dict[str, Any]]:
    parts = [case_input.system] if case_input.system else []
    if case_input.documents:
        parts.append(render_documents(case_input))
    messages: list[dict[str, Any]] = (
        [{"role": "system", "content": "\n\n".join(parts)}] if parts else []
    )
    messages.extend(dict(message) for message in case_input.messages)
    return messages


def build_tools(tools: Sequence[Tool]) -> list[dict[str, Any]]:
    return [
        {
            "type": "function",
            "function": {
                "name": tool.name,
                "description": tool.description,
                "parameters": tool.parameters,
            },
        }
        for tool in tools
    ]


def build_request(
    case: IncidentCase, model: str, overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The first request of a sample: case params, overridden by configuration."""
    request: dict[str, Any] = {"model": model, "messages": build_messages(case.input)}
    request.update({key: case.model[key] for key in REQUEST_PARAMS if key in case.model})
    request.update(overrides or {})
    if case.input.tools:
        request["tools"] = build_tools(case.input.tools)
        # OpenAI's default when tools are sent; llama.cpp's server ignores tools without it.
        request["tool_choice"] = "auto"
    return request


def is_subset(expected: Any, actual: Any) -> bool:
    """``expected`` matches ``actual`` when every key it names (recursively) has an equal value."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            key in actual and is_subset(value, actual[key]) for key, value in expected.items()
        )
    return bool(expected == actual)


def recorded_response(tool: Tool | None, arguments: dict[str, Any] | None) -> Any:
    if tool is None:
        return NO_RECORDED_RESPONSE
    for response in tool.responses:
        if response.when is None:
            continue
        if arguments is not None and is_subset(response.when, arguments):
            return response.output
    fallback = next((r for r in tool.responses if r.when is None), None)
    return fallback.output if fallback is not None else NO_RECORDED_RESPONSE


def parse_arguments(raw: str | None) -> tuple[dict[str, Any] | None, str | None]:
    if not raw:
        return {}, None
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError as exc:
        return None, f"arguments are not valid JSON ({exc.msg}, char {exc.pos})"
    if not isinstance(parsed, dict):
        return None, f"arguments are JSON {type(parsed).__name__}, not an object"
    return parsed, None


def _tool_message(call: ToolCall) -> dict[str, Any]:
    if call.arguments_error:
        content: Any = {"error": call.arguments_error}
    else:
        content = call.output
    text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
    return {"role": "tool", "tool_call_id": call.id, "content": text}


def _parse_call(raw: dict[str, Any], turn: int, index: int) -> ToolCall:
    function = raw.get("function") or {}
    arguments, error = parse_arguments(function.get("arguments"))
    return ToolCall(
        id=str(raw.get("id") or f"call_{turn}_{index}"),
        name=str(function.get("name") or ""),
        arguments_raw=function.get("arguments") or "",
        arguments=arguments,
        arguments_error=error,
    )


def replay(
    case: IncidentCase,
    client: Completer,
    model: str,
    overrides: Mapping[str, Any] | None = None,
) -> Transcript:
    """Run one sample: call, answer tool calls from recordings, call again, up to ``max_turns``."""
    request = build_request(case, model, overrides)
    transcript = Transcript()
    turns = 0
    while True:
        response, latency = client.complete(request)
        transcript.exchanges.append(Exchange(request=request, response=response, latency_s=latency))
        transcript.latency_s += latency
        transcript.add_usage(response.get("usage"))
        transcript.model = response.get("model") or transcript.model
        choices = response.get("choices") or [{}]
        message = choices[0].get("message") or {}
        transcript.finish_reason = choices[0].get("finish_reason")
        transcript.final_text = message.get("content") or ""
        raw_calls = message.get("tool_calls") or []
        if not raw_calls:
            return transcript
        calls = [_parse_call(raw, turns, index) for index, raw in enumerate(raw_calls)]
        transcript.tool_calls.extend(calls)
        if turns >= case.runs.max_turns:
            # The model asked for more than the case allows: recorded, left unanswered.
            for call in calls:
                call.answered = False
            transcript.truncated = True
            return transcript
        turns += 1
        for call in calls:
            if call.arguments_error is None:
                call.output = recorded_response(case.tool(call.name), call.arguments)
        assistant = {
            "role": "assistant",
            # "" rather than null: llama.cpp's server rejects a null content beside tool calls.
            "content": message.get("content") or "",
            "tool_calls": [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments_raw},
                }
                for call in calls
            ],
        }
        request = {
            **request,
            "messages": [*request["messages"], assistant, *map(_tool_message, calls)],
        }
