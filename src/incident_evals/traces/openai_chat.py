"""OpenAI Chat Completions bodies (format ``openai-chat``).

Accepted: a ``{"request": ..., "response": ...}`` pair (what ``new --from-openai`` reads), a JSON
array or JSONL of them; a response that is a ``chat.completion`` object, a list of
``chat.completion.chunk`` objects or a streamed answer's text (``data: {...}`` lines); a
streamed answer alone (an SSE file); a ``chat.completion`` object alone or with the stored
``messages`` of its request; the chunks of streams logged one a line (``chunk.model_dump_json()``,
JSONL or a JSON array; a stream's chunks share their ``id``); and VCR / pytest-recording
cassettes whose interactions POST to ``/chat/completions``. Headers (credentials) are not read.
"""

from __future__ import annotations

from typing import Any

from incident_evals.json_types import a_json_type
from incident_evals.replay import REQUEST_PARAMS
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
    plural,
    records,
    text_of,
)

NAME = "openai-chat"
PATH = "/chat/completions"
COMPLETION = "chat.completion"
CHUNK = "chat.completion.chunk"

# --------------------------------------------------------------------------------------------
# Detection
# --------------------------------------------------------------------------------------------


def detect(document: Document) -> bool:
    if document.kind == "sse":
        return _first_chunk(document.value) is not None
    if is_cassette(document):
        return any(PATH in str(_uri(item)) for item in document.value["interactions"])
    record = first_record(document)
    return isinstance(record, dict) and (
        _is_pair(record) or record.get("object") in (COMPLETION, CHUNK)
    )


def streams(record: Any) -> bool:
    """Whether a record of a JSONL log is a whole call (an exchange, or a stored completion),
    so that a scan can read the log a line at a time; a stream's chunks are not."""
    return isinstance(record, dict) and (_is_pair(record) or record.get("object") == COMPLETION)


def _uri(item: Any) -> Any:
    request = item.get("request") if isinstance(item, dict) else None
    return request.get("uri") if isinstance(request, dict) else None


def _is_pair(record: dict[str, Any]) -> bool:
    request = record.get("request")
    return isinstance(request, dict) and "messages" in request and "response" in record


def _first_chunk(events: list[SseEvent]) -> dict[str, Any] | None:
    for event in events:
        if event.data.strip() == "[DONE]":
            return None
        try:
            chunk = json_value(event.data, "")
        except TraceError:
            return None
        return chunk if isinstance(chunk, dict) and chunk.get("object") == CHUNK else None
    return None


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


def read(document: Document, file: str) -> list[ModelCall]:
    record = first_record(document) if document.kind != "sse" else None
    if isinstance(record, dict) and record.get("object") == CHUNK:
        return _logged_chunks(document, file)
    return EXCHANGES.read(document, file)


def _logged_chunks(document: Document, file: str) -> list[ModelCall]:
    """Chunks as an application logs them while it streams: a call for each run of chunks that
    share an ``id`` (one stream), with no request."""
    streams: list[list[tuple[str, Any]]] = []
    for where, record in records(document, file):
        if not isinstance(record, dict) or record.get("object") != CHUNK:
            kind = record.get("object") if isinstance(record, dict) else None
            said = repr(kind) if isinstance(kind, str) else a_json_type(record)
            raise TraceError(f"{where}: {said}, not a {CHUNK} like the records before it")
        if not streams or record.get("id") != streams[-1][0][1].get("id"):
            streams.append([])
        streams[-1].append((where, record))
    calls = []
    for chunks in streams:
        response, guesses = _joined(chunks, chunks[0][0])
        if response["choices"][0]["finish_reason"] is None:
            # A log has no ``[DONE]``; a stream that ran to its end says why it ended.
            guesses.append("no chunk has a finish_reason: the answer may have been cut short")
        if len(streams) > 1:
            guesses.append(f"{len(streams)} streams in the file, told apart by their chunks' id")
        calls.append(_call(None, response, chunks[0][0], file, guesses))
    return calls


def _standalone(record: dict[str, Any], where: str, file: str) -> ModelCall | None:
    return _stored(record, where, file) if record.get("object") == COMPLETION else None


def _stored(completion: dict[str, Any], where: str, file: str) -> ModelCall:
    """A ``chat.completion`` as stored (``store: true``), with the messages of its request when
    they are there (``GET /chat/completions/{id}/messages``: a list, or its page)."""
    messages = completion.get("messages") or completion.get("request_messages")
    if isinstance(messages, dict):
        messages = messages.get("data")
    if not isinstance(messages, list):
        return _call(
            None, completion, where, file, ["no request in the file: the conversation is unknown"]
        )
    request = {"model": completion.get("model"), "messages": messages}
    return _call(request, completion, where, file, [])


# --------------------------------------------------------------------------------------------
# Streams
# --------------------------------------------------------------------------------------------


def _joined(chunks: list[tuple[str, Any]], where: str) -> tuple[dict[str, Any], list[str]]:
    """The ``chat.completion`` a stream of chunks makes: the first choice's content joined, its
    tool-call fragments joined by their index."""
    guesses: list[str] = []
    content: list[str] = []
    refusal: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    other_choices: set[str] = set()
    model: Any = None
    finish: Any = None
    created: Any = None
    for chunk_where, chunk in chunks:
        if not isinstance(chunk, dict):
            raise TraceError(f"{chunk_where}: {a_json_type(chunk)}, not a chunk object")
        error = chunk.get("error")
        if error is not None:
            said = error.get("message") if isinstance(error, dict) else error
            raise TraceError(f"{chunk_where}: the stream reports an error: {said}")
        model = model or chunk.get("model")
        created = created or chunk.get("created")
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, dict):
                raise TraceError(f"{chunk_where}: a choice is {a_json_type(choice)}")
            if choice.get("index", 0) != 0:
                other_choices.add(str(choice.get("index")))
                continue
            finish = choice.get("finish_reason") or finish
            delta = choice.get("delta")
            if not isinstance(delta, dict):
                continue
            if isinstance(delta.get("content"), str):
                content.append(delta["content"])
            if isinstance(delta.get("refusal"), str):
                refusal.append(delta["refusal"])
            for fragment in delta.get("tool_calls") or ():
                _add_fragment(calls, fragment, chunk_where)
    if other_choices:
        guesses.append(f"{plural(len(other_choices) + 1, 'choice')} streamed: the first is kept")
    message: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(content) if content else None,
    }
    if refusal:
        message["refusal"] = "".join(refusal)
    if calls:
        message["tool_calls"] = [calls[index] for index in sorted(calls)]
    response = {
        "object": COMPLETION,
        "model": model,
        "created": created,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
    }
    return response, guesses


def _add_fragment(calls: dict[int, dict[str, Any]], fragment: Any, where: str) -> None:
    if not isinstance(fragment, dict):
        raise TraceError(f"{where}: a tool-call fragment is {a_json_type(fragment)}")
    index = fragment.get("index", 0)
    if not isinstance(index, int):
        raise TraceError(f"{where}: a tool-call fragment's index is {a_json_type(index)}")
    call = calls.setdefault(
        index, {"id": None, "type": "function", "function": {"name": "", "arguments": ""}}
    )
    call["id"] = call["id"] or fragment.get("id")
    function = fragment.get("function")
    if isinstance(function, dict):
        if isinstance(function.get("name"), str) and not call["function"]["name"]:
            call["function"]["name"] = function["name"]
        if isinstance(function.get("arguments"), str):
            call["function"]["arguments"] += function["arguments"]


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
        request = {}
        if not any("no request" in guess for guess in guesses):
            guesses.append("no request in the file: the conversation is unknown")
    raw_messages = request.get("messages") or []
    if not isinstance(raw_messages, list):
        raise TraceError(f'{where}: the request\'s "messages" is {a_json_type(raw_messages)}')
    system, messages = _conversation(raw_messages, where, guesses)
    tools = _tools(request, where, guesses)
    choices = response.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise TraceError(f"{where}: the response has no choices")
    if len(choices) > 1:
        guesses.append(f"{len(choices)} choices: the first is kept")
    reply = choices[0].get("message")
    if not isinstance(reply, dict):
        raise TraceError(f"{where}: the response has no choices[0].message")
    output, dropped = text_of(reply.get("content"))
    if dropped:
        guesses.append(f"the answer's {names(dropped)} parts are dropped")
    if output is None and isinstance(reply.get("refusal"), str):
        output = reply["refusal"]
        guesses.append("the model refused: its refusal is taken as the output")
    tool_calls = tuple(
        _record_call(call, n, where, guesses)
        for n, call in enumerate(reply.get("tool_calls") or ())
    )
    model = request.get("model") or response.get("model")
    return ModelCall(
        index=0,
        source=Source(NAME, file),
        model=model if isinstance(model, str) else None,
        system=system,
        messages=tuple(messages),
        tools=tuple(tools),
        tool_calls=tool_calls,
        output=output,
        params=_params(request, guesses),
        guesses=tuple(dict.fromkeys(guesses)),
        time=seconds(response.get("created")),
    )


def _conversation(
    raw: list[Any], where: str, guesses: list[str]
) -> tuple[str | None, list[dict[str, Any]]]:
    """The leading system (or developer) messages as the system text, and the rest."""
    system: list[str] = []
    messages: list[dict[str, Any]] = []
    for n, message in enumerate(raw):
        if not isinstance(message, dict):
            raise TraceError(f"{where}: message {n} is {a_json_type(message)}, not an object")
        role = message.get("role")
        if role in ("system", "developer") and not messages:
            text, dropped = text_of(message.get("content"))
            system.append(text or "")
            if role == "developer":
                guesses.append("the developer message is taken as the system prompt")
            if dropped:
                guesses.append(f"the system prompt's {names(dropped)} parts are dropped")
            continue
        messages.append(_message(message, n, guesses))
    if len(system) > 1:
        guesses.append(f"{len(system)} leading system messages joined into one system prompt")
    return ("\n\n".join(system) if system else None), messages


def _message(raw: dict[str, Any], n: int, guesses: list[str]) -> dict[str, Any]:
    role = raw.get("role")
    content, dropped = text_of(raw.get("content"))
    if dropped:
        guesses.append(f"message {n}: its {names(dropped)} parts are dropped")
    if role == "function":
        # The legacy function-calling form: its result names the function, not a call id.
        guesses.append(f"message {n}: a legacy function result is taken as a tool result")
        return {"role": "tool", "tool_call_id": raw.get("name"), "content": content}
    message: dict[str, Any] = {"role": role}
    if "content" in raw:
        message["content"] = content
    if raw.get("name") is not None:
        message["name"] = raw["name"]
    if role == "tool":
        message["tool_call_id"] = raw.get("tool_call_id")
    calls = raw.get("tool_calls")
    if isinstance(calls, list) and calls:
        message["tool_calls"] = [_chat_call(call) for call in calls if isinstance(call, dict)]
    legacy = raw.get("function_call")
    if isinstance(legacy, dict):
        guesses.append(f"message {n}: a legacy function_call is taken as a tool call")
        message["tool_calls"] = [
            _chat_call({"id": legacy.get("name"), "function": legacy}),
        ]
    return message


def _chat_call(call: dict[str, Any]) -> dict[str, Any]:
    function = call.get("function") if isinstance(call.get("function"), dict) else {}
    assert isinstance(function, dict)
    raw, _ = parse_arguments(function.get("arguments", ""))
    return {
        "id": call.get("id"),
        "type": "function",
        "function": {"name": function.get("name"), "arguments": raw},
    }


def _record_call(call: Any, n: int, where: str, guesses: list[str]) -> ToolCallRecord:
    if not isinstance(call, dict):
        raise TraceError(f"{where}: tool call {n} of the answer is {a_json_type(call)}")
    function = call.get("function")
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise TraceError(f"{where}: tool call {n} of the answer has no function name")
    raw, arguments = parse_arguments(function.get("arguments", ""))
    if arguments is None:
        guesses.append(f"tool call {n} ({function['name']}): its arguments are not a JSON object")
    call_id = call.get("id")
    if not isinstance(call_id, str) or not call_id:
        call_id = f"call_{n}"
        guesses.append(f"tool call {n} ({function['name']}) has no id: {call_id} given")
    return ToolCallRecord(id=call_id, name=function["name"], arguments=arguments, arguments_raw=raw)


def _tools(request: dict[str, Any], where: str, guesses: list[str]) -> list[dict[str, Any]]:
    tools = request.get("tools")
    if tools is None and isinstance(request.get("functions"), list):
        guesses.append("legacy functions are taken as tool definitions")
        tools = [{"type": "function", "function": f} for f in request["functions"]]
    if tools is None:
        return []
    if not isinstance(tools, list):
        raise TraceError(f'{where}: the request\'s "tools" is {a_json_type(tools)}')
    kept = [tool for tool in tools if isinstance(tool, dict) and tool.get("type") == "function"]
    others = [
        str(tool.get("type")) for tool in tools if isinstance(tool, dict) and tool not in kept
    ]
    if others:
        guesses.append(f"tools that are not functions are dropped: {names(others)}")
    return kept


def _params(request: dict[str, Any], guesses: list[str]) -> dict[str, Any]:
    params = {key: request[key] for key in REQUEST_PARAMS if request.get(key) is not None}
    if "max_tokens" not in params and request.get("max_completion_tokens") is not None:
        params["max_tokens"] = request["max_completion_tokens"]
        guesses.append("max_completion_tokens is taken as max_tokens")
    return params


EXCHANGES = Exchanges(
    build=_call,
    join=_joined,
    standalone=_standalone,
    wanted=lambda uri: PATH in uri,
    done_marker=True,
)
