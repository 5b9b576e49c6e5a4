"""OpenAI Responses API bodies (format ``openai-responses``), mapped into Chat shapes.

Accepted: a ``{"request": ..., "response": ...}`` pair whose request has ``input`` or
``instructions`` and whose response is a ``response`` object, its streamed events (SSE text, or a
list of event objects) or nothing but the stream's file; a JSON array or JSONL of pairs; a
``response`` object alone (its echoed ``instructions``, ``tools`` and parameters are kept, its
input is unknown); and VCR / pytest-recording cassettes whose interactions POST to
``/responses``. Headers (credentials) are not read.

Mapping: ``instructions`` is the system text; ``input`` items become messages (``message`` items
by role; ``function_call`` items the tool calls of an assistant message; ``function_call_output``
items ``tool`` messages, both keyed by ``call_id``); flat ``function`` tools become Chat tool
definitions; ``max_output_tokens`` is ``max_tokens``. Output ``message`` items give the output
text (``output_text`` parts; a ``refusal`` part when there is no text), ``function_call`` items
the tool calls; ``reasoning`` items and built-in tools are dropped, each with its guess line.
"""

from __future__ import annotations

from typing import Any

from incident_evals.json_types import a_json_type
from incident_evals.traces import (
    ModelCall,
    Source,
    ToolCallRecord,
    TraceError,
    parse_arguments,
    seconds,
)
from incident_evals.traces.formats import (
    Document,
    Exchanges,
    SseEvent,
    first_record,
    is_cassette,
    json_value,
    names,
    text_of,
)

NAME = "openai-responses"
PATH = "/responses"
RESPONSE = "response"
#: Request parameters kept, by their Chat Completions names.
PARAMS = {"temperature": "temperature", "top_p": "top_p", "max_output_tokens": "max_tokens"}

# --------------------------------------------------------------------------------------------
# Detection
# --------------------------------------------------------------------------------------------


def detect(document: Document) -> bool:
    if document.kind == "sse":
        return _first_event_type(document.value).startswith("response.")
    if is_cassette(document):
        return any(_is_responses_uri(_uri(item)) for item in document.value["interactions"])
    record = first_record(document)
    if not isinstance(record, dict):
        return False
    if record.get("object") == RESPONSE:
        return True
    request = record.get("request")
    return (
        isinstance(request, dict)
        and ("input" in request or "instructions" in request)
        and "messages" not in request
        and "response" in record
    )


def streams(record: Any) -> bool:
    """Whether a record of a JSONL log is a whole call (an exchange, or a stored response), so
    that a scan can read the log a line at a time."""
    return isinstance(record, dict) and detect(Document("jsonl", [record], (1,)))


def _uri(item: Any) -> str:
    request = item.get("request") if isinstance(item, dict) else None
    return str(request.get("uri") or "") if isinstance(request, dict) else ""


def _is_responses_uri(uri: str) -> bool:
    # ``/responses`` itself, not ``/responses/{id}/input_items`` and the like.
    return uri.split("?", 1)[0].rstrip("/").endswith(PATH)


def _first_event_type(events: list[SseEvent]) -> str:
    for event in events:
        if event.event:
            return event.event
        try:
            data = json_value(event.data, "")
        except TraceError:
            return ""
        kind = data.get("type") if isinstance(data, dict) else None
        return kind if isinstance(kind, str) else ""
    return ""


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


def read(document: Document, file: str) -> list[ModelCall]:
    return EXCHANGES.read(document, file)


def _standalone(record: dict[str, Any], where: str, file: str) -> ModelCall | None:
    return _call(None, record, where, file, []) if record.get("object") == RESPONSE else None


# --------------------------------------------------------------------------------------------
# Streams
# --------------------------------------------------------------------------------------------


def _from_events(events: list[tuple[str, Any]], where: str) -> tuple[dict[str, Any], list[str]]:
    """The response a stream of events makes: the ``response`` of its last
    ``response.completed`` (or ``incomplete``, ``failed``) event, else its done output items."""
    final: dict[str, Any] | None = None
    final_type = ""
    started: dict[str, Any] = {}
    items: dict[int, Any] = {}
    for event_where, event in events:
        if not isinstance(event, dict):
            raise TraceError(f"{event_where}: {a_json_type(event)}, not an event object")
        kind = event.get("type")
        if kind == "error":
            raise TraceError(f"{event_where}: the stream reports an error: {event.get('message')}")
        response = event.get("response")
        if kind in ("response.completed", "response.incomplete", "response.failed"):
            if not isinstance(response, dict):
                raise TraceError(f"{event_where}: {kind} has no response object")
            final, final_type = response, kind
        elif kind in ("response.created", "response.in_progress") and isinstance(response, dict):
            started = response
        elif kind == "response.output_item.done":
            index = event.get("output_index")
            items[index if isinstance(index, int) else len(items)] = event.get("item")
    guesses: list[str] = []
    if final is None:
        if not started and not items:
            raise TraceError(f"{where}: the stream holds no response")
        guesses.append("the stream has no response.completed: the answer may have been cut short")
        final = {**started, "output": [items[index] for index in sorted(items)]}
    elif final_type != "response.completed":
        guesses.append(f"the stream ends with {final_type}: the answer is not complete")
    return final, guesses


# --------------------------------------------------------------------------------------------
# A request and its response -> a model call
# --------------------------------------------------------------------------------------------


def _call(
    request: dict[str, Any] | None,
    response: dict[str, Any],
    where: str,
    file: str,
    guesses: list[str],
) -> ModelCall:
    guesses = list(guesses)
    if request is None:
        # A response echoes its request's instructions, tools and parameters, not its input.
        guesses.append("no request in the file: the input is unknown")
        request = {
            key: response[key] for key in ("instructions", "tools", "model") if key in response
        }
        request.update({key: response[key] for key in PARAMS if key in response})
    if request.get("previous_response_id"):
        guesses.append(
            f"previous_response_id {request['previous_response_id']}: the turns before are "
            "held by OpenAI, not in this call"
        )
    system = _instructions(request.get("instructions"), where, guesses)
    leading, messages = _input(request.get("input"), where, guesses)
    if leading:
        system = "\n\n".join([*([system] if system else []), *leading])
    tools = _tools(request.get("tools"), where, guesses)
    output, tool_calls = _output(response, where, guesses)
    model = request.get("model") or response.get("model")
    params = {chat: request[key] for key, chat in PARAMS.items() if request.get(key) is not None}
    return ModelCall(
        index=0,
        source=Source(NAME, file),
        model=model if isinstance(model, str) else None,
        system=system,
        messages=tuple(messages),
        tools=tuple(tools),
        tool_calls=tuple(tool_calls),
        output=output,
        params=params,
        guesses=tuple(dict.fromkeys(guesses)),
        time=seconds(response.get("created_at")),
    )


def _instructions(value: Any, where: str, guesses: list[str]) -> str | None:
    if value is None or isinstance(value, str):
        return value or None
    if isinstance(value, list):
        # A prompt template's instructions come back as input messages.
        texts = [text_of(item.get("content"))[0] for item in value if isinstance(item, dict)]
        guesses.append("instructions given as messages are joined into the system prompt")
        return "\n\n".join(text for text in texts if text) or None
    raise TraceError(f'{where}: "instructions" is {a_json_type(value)}')


def _input(value: Any, where: str, guesses: list[str]) -> tuple[list[str], list[dict[str, Any]]]:
    """The leading system / developer texts of ``input``, and its other items as messages."""
    if value is None:
        return [], []
    if isinstance(value, str):
        return [], [{"role": "user", "content": value}]
    if not isinstance(value, list):
        raise TraceError(f'{where}: "input" is {a_json_type(value)}')
    leading: list[str] = []
    messages: list[dict[str, Any]] = []
    dropped: list[str] = []
    for n, item in enumerate(value):
        if not isinstance(item, dict):
            raise TraceError(f"{where}: input item {n} is {a_json_type(item)}, not an object")
        kind = item.get("type", "message")
        if kind == "message":
            role = item.get("role")
            content, parts = text_of(item.get("content"))
            if parts:
                guesses.append(f"input item {n}: its {names(parts)} parts are dropped")
            if role in ("system", "developer") and not messages:
                leading.append(content or "")
                if role == "developer":
                    guesses.append("the developer message is taken as the system prompt")
                continue
            messages.append({"role": role, "content": content})
        elif kind == "function_call":
            call = _chat_call(item, n, where)
            last = messages[-1] if messages else None
            # One assistant turn: its text and its calls, or several calls in a row.
            if last is not None and last["role"] == "assistant":
                last.setdefault("tool_calls", []).append(call)
            else:
                messages.append({"role": "assistant", "tool_calls": [call]})
        elif kind == "function_call_output":
            output = item.get("output")
            content = output if isinstance(output, str) else text_of(output)[0]
            messages.append(
                {"role": "tool", "tool_call_id": item.get("call_id"), "content": content}
            )
        else:
            dropped.append(str(kind))
    if dropped:
        guesses.append(f"input items dropped (no Chat equivalent): {names(dropped)}")
    return leading, messages


def _chat_call(item: dict[str, Any], n: int, where: str) -> dict[str, Any]:
    if not isinstance(item.get("name"), str):
        raise TraceError(f"{where}: input item {n} (function_call) has no name")
    raw, _ = parse_arguments(item.get("arguments", ""))
    return {
        "id": item.get("call_id"),
        "type": "function",
        "function": {"name": item["name"], "arguments": raw},
    }


def _tools(value: Any, where: str, guesses: list[str]) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise TraceError(f'{where}: "tools" is {a_json_type(value)}')
    tools: list[dict[str, Any]] = []
    others: list[str] = []
    for tool in value:
        if not isinstance(tool, dict) or tool.get("type") != "function":
            others.append(str(tool.get("type")) if isinstance(tool, dict) else a_json_type(tool))
            continue
        if isinstance(tool.get("function"), dict):
            # Already the Chat form (some wrappers send it so).
            tools.append({"type": "function", "function": tool["function"]})
            continue
        function = {
            key: tool[key]
            for key in ("name", "description", "parameters", "strict")
            if tool.get(key) is not None
        }
        tools.append({"type": "function", "function": function})
    if others:
        guesses.append(f"tools that are not functions are dropped: {names(others)}")
    return tools


def _output(
    response: dict[str, Any], where: str, guesses: list[str]
) -> tuple[str | None, list[ToolCallRecord]]:
    items = response.get("output")
    if not isinstance(items, list):
        raise TraceError(f'{where}: the response has no "output" list')
    texts: list[str] = []
    refusals: list[str] = []
    calls: list[ToolCallRecord] = []
    dropped: list[str] = []
    for n, item in enumerate(items):
        if not isinstance(item, dict):
            raise TraceError(f"{where}: output item {n} is {a_json_type(item)}, not an object")
        kind = item.get("type")
        if kind == "message":
            for part in item.get("content") or ():
                if not isinstance(part, dict):
                    continue
                if isinstance(part.get("text"), str):
                    texts.append(part["text"])
                elif isinstance(part.get("refusal"), str):
                    refusals.append(part["refusal"])
        elif kind == "function_call":
            calls.append(_record(item, len(calls), where, guesses))
        else:
            dropped.append(str(kind))
    if dropped:
        guesses.append(f"output items dropped (no Chat equivalent): {names(dropped)}")
    if not texts and refusals:
        guesses.append("the model refused: its refusal is taken as the output")
        texts = refusals
    return ("".join(texts) if texts else None), calls


def _record(item: dict[str, Any], n: int, where: str, guesses: list[str]) -> ToolCallRecord:
    name = item.get("name")
    if not isinstance(name, str):
        raise TraceError(f"{where}: function call {n} of the output has no name")
    raw, arguments = parse_arguments(item.get("arguments", ""))
    if arguments is None:
        guesses.append(f"tool call {n} ({name}): its arguments are not a JSON object")
    call_id = item.get("call_id") or item.get("id")
    if not isinstance(call_id, str) or not call_id:
        call_id = f"call_{n}"
        guesses.append(f"tool call {n} ({name}) has no call_id: {call_id} given")
    return ToolCallRecord(id=call_id, name=name, arguments=arguments, arguments_raw=raw)


EXCHANGES = Exchanges(
    build=_call,
    join=_from_events,
    standalone=_standalone,
    wanted=_is_responses_uri,
    done_marker=False,
)
