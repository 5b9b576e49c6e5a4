"""OpenTelemetry GenAI semantic conventions in OTLP JSON -> model calls.

Reads what an OTLP JSON file holds (one ``ExportTraceServiceRequest`` / ``ExportLogsServiceRequest``
object, or the collector ``file`` exporter's JSON Lines parsed into a list of them):

- the current form: one ``chat`` span per model call, with ``gen_ai.system_instructions``,
  ``gen_ai.input.messages``, ``gen_ai.output.messages`` and ``gen_ai.tool.definitions`` (JSON text
  or structured values), and ``execute_tool`` spans that carry the tools' results;
- the current event form: one ``gen_ai.client.inference.operation.details`` log record (or span
  event) per call, holding the same attributes as structured values;
- the older event form: ``gen_ai.system.message``, ``gen_ai.user.message``,
  ``gen_ai.assistant.message``, ``gen_ai.tool.message`` and ``gen_ai.choice``, as span events or as
  log records, tied to their chat span by span id;
- OpenLLMetry's (Traceloop's) indexed attributes: ``gen_ai.prompt.N.role`` / ``.content`` /
  ``.tool_call_id`` / ``.tool_calls.J.{id,name,arguments}``, ``gen_ai.completion.N.*`` and
  ``llm.request.functions.N.{name,description,parameters}``.

The OTLP attribute decoding here is shared with the OpenInference importer, which uses the same
container.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from incident_evals.traces import (
    ModelCall,
    Source,
    ToolCallRecord,
    TraceError,
    infer_tools,
    parse_arguments,
    seconds,
)
from incident_evals.traces.formats import parsed_value

__all__ = ["NAME", "detect", "read"]

NAME = "otlp"

_CHAT_OPERATIONS = frozenset({"chat", "text_completion", "generate_content"})
_EVENT_NAMES = frozenset(
    {
        "gen_ai.system.message",
        "gen_ai.user.message",
        "gen_ai.assistant.message",
        "gen_ai.tool.message",
        "gen_ai.choice",
    }
)
#: The current form's event: one per call, with the chat span's content attributes.
_DETAILS_EVENT = "gen_ai.client.inference.operation.details"
_CONTENT_KEYS = (
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "gen_ai.tool.definitions",
)
#: OpenLLMetry's messages, one attribute per field: ``gen_ai.prompt.0.role``, ...
_INDEXED = ("gen_ai.prompt.", "gen_ai.completion.")
#: Request parameters as the conventions name them -> as Chat Completions names them.
_PARAMS = {
    "gen_ai.request.temperature": "temperature",
    "gen_ai.request.max_tokens": "max_tokens",
    "gen_ai.request.top_p": "top_p",
    "gen_ai.request.frequency_penalty": "frequency_penalty",
    "gen_ai.request.presence_penalty": "presence_penalty",
    "gen_ai.request.seed": "seed",
    "gen_ai.request.stop_sequences": "stop",
    # OpenLLMetry's names for two of them.
    "llm.frequency_penalty": "frequency_penalty",
    "llm.presence_penalty": "presence_penalty",
}
_INTEGER_PARAMS = frozenset({"max_tokens", "seed"})
#: Attribute keys that only OpenInference writes: a file holding them is OpenInference's.
OPENINFERENCE_MARKERS = ("llm.input_messages.", "llm.output_messages.", "openinference.span.kind")


# -- the OTLP JSON container ---------------------------------------------------------------------


def _get(obj: dict[str, Any], camel: str) -> Any:
    """A field by its OTLP/JSON (lowerCamelCase) name, or the proto (snake_case) name some
    exporters write instead."""
    if camel in obj:
        return obj[camel]
    snake = "".join("_" + c.lower() if c.isupper() else c for c in camel)
    return obj.get(snake)


def _requests(document: Any) -> list[dict[str, Any]]:
    """The export requests a document holds: one object, or a list of them (JSON Lines)."""
    if isinstance(document, dict):
        return [document]
    if isinstance(document, list) and all(isinstance(item, dict) for item in document):
        return document
    return []


def is_container(document: Any) -> bool:
    """Whether the document is OTLP JSON (traces or logs)."""
    requests = _requests(document)
    return bool(requests) and all(
        _get(request, "resourceSpans") is not None or _get(request, "resourceLogs") is not None
        for request in requests
    )


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise TraceError(f"{where} is not a list")
    return value


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TraceError(f"{where} is not an object")
    return value


def iter_spans(document: Any, file: str) -> Iterator[tuple[dict[str, Any], str]]:
    """Every span in the document, with a name for it in error messages (before its id is
    known to be readable)."""
    for r, request in enumerate(_requests(document)):
        for i, resource in enumerate(
            _list(_get(request, "resourceSpans"), f"{file}: resourceSpans")
        ):
            where = f"{file}: resourceSpans[{i}]"
            resource = _object(resource, where)
            for j, scope in enumerate(_list(_get(resource, "scopeSpans"), f"{where}.scopeSpans")):
                scope = _object(scope, f"{where}.scopeSpans[{j}]")
                spans = _list(scope.get("spans"), f"{where}.scopeSpans[{j}].spans")
                for k, span in enumerate(spans):
                    line = f"line {r + 1}: " if isinstance(document, list) else ""
                    yield (
                        _object(span, f"{where}.scopeSpans[{j}].spans[{k}]"),
                        f"{file}: {line}span #{k} of resourceSpans[{i}].scopeSpans[{j}]",
                    )


def iter_log_records(document: Any, file: str) -> Iterator[tuple[dict[str, Any], str]]:
    """Every log record in the document, with a name for it in error messages."""
    for r, request in enumerate(_requests(document)):
        for i, resource in enumerate(_list(_get(request, "resourceLogs"), f"{file}: resourceLogs")):
            where = f"{file}: resourceLogs[{i}]"
            resource = _object(resource, where)
            for j, scope in enumerate(_list(_get(resource, "scopeLogs"), f"{where}.scopeLogs")):
                scope = _object(scope, f"{where}.scopeLogs[{j}]")
                records = _list(_get(scope, "logRecords"), f"{where}.scopeLogs[{j}].logRecords")
                for k, record in enumerate(records):
                    line = f"line {r + 1}: " if isinstance(document, list) else ""
                    yield (
                        _object(record, f"{where}.scopeLogs[{j}].logRecords[{k}]"),
                        f"{file}: {line}log record #{k} of resourceLogs[{i}].scopeLogs[{j}]",
                    )


def any_value(value: Any, where: str) -> Any:
    """An OTLP ``AnyValue`` as a Python value. 64-bit integers are strings in OTLP JSON, and
    ``NaN``/``Infinity`` doubles too."""
    if not isinstance(value, dict):
        raise TraceError(f"{where}: the value is not an OTLP AnyValue object")
    if not value:
        return None
    for kind, accepts in _SCALARS.items():
        found = _get(value, kind)
        if found is None:
            continue
        try:
            return accepts(found)
        except (TypeError, ValueError):
            raise TraceError(
                f"{where}: {kind} {json.dumps(found)[:40]} is not {_KINDS[kind]}"
            ) from None
    array = _get(value, "arrayValue")
    if array is not None:
        items = _list(_object(array, f"{where}: arrayValue").get("values"), f"{where}: arrayValue")
        return [any_value(item, f"{where}[{n}]") for n, item in enumerate(items)]
    kvlist = _get(value, "kvlistValue")
    if kvlist is not None:
        pairs = _list(_object(kvlist, f"{where}: kvlistValue").get("values"), f"{where}: kvlist")
        return decode_attributes(pairs, where)
    raw = _get(value, "bytesValue")
    if isinstance(raw, str):
        try:
            return base64.b64decode(raw, validate=True).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            raise TraceError(f"{where}: bytesValue is not base64") from None
    raise TraceError(f"{where}: unknown AnyValue kind {sorted(value)[:3]}")


def _string(found: Any) -> str:
    if not isinstance(found, str):
        raise TypeError
    return found


def _boolean(found: Any) -> bool:
    if not isinstance(found, bool):
        raise TypeError
    return found


def _integer(found: Any) -> int:
    if isinstance(found, bool) or not isinstance(found, int | str):
        raise TypeError
    return int(found)


def _double(found: Any) -> float:
    if isinstance(found, bool) or not isinstance(found, int | float | str):
        raise TypeError
    return float(found)


#: The scalar kinds of ``AnyValue``, each with what reads it (raising on a wrong type).
_SCALARS = {
    "stringValue": _string,
    "boolValue": _boolean,
    "intValue": _integer,
    "doubleValue": _double,
}
_KINDS = {
    "stringValue": "a string",
    "boolValue": "a boolean",
    "intValue": "an integer",
    "doubleValue": "a number",
}


def decode_attributes(pairs: Any, where: str) -> dict[str, Any]:
    """OTLP ``KeyValue`` pairs as a dict."""
    found: dict[str, Any] = {}
    for n, pair in enumerate(_list(pairs, f"{where}: attributes")):
        if not isinstance(pair, dict) or not isinstance(pair.get("key"), str):
            raise TraceError(f"{where}: attribute #{n} has no key")
        key = pair["key"]
        found[key] = any_value(pair.get("value", {}), f"{where}: attribute {key}")
    return found


def hex_id(raw: Any, size: int) -> str | None:
    """A trace or span id as lowercase hex: OTLP JSON writes hex, protobuf's own JSON base64."""
    if not isinstance(raw, str) or not raw:
        return None
    text = raw.lower().removeprefix("0x")
    if len(text) == size * 2 and all(c in "0123456789abcdef" for c in text):
        return text
    try:
        decoded = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        return None
    return decoded.hex() if len(decoded) == size else None


def nanos(raw: Any) -> int | None:
    """A ``*UnixNano`` time (a string in OTLP JSON, a number in some exports)."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.isdigit():
        return int(raw)
    return None


def unflatten(attributes: dict[str, Any], prefix: str) -> Any:
    """The attributes under ``prefix`` as a tree: ``a.0.b`` -> ``[{"b": ...}]``. A producer
    that wrote the list as one structured value gives that value back."""
    if prefix in attributes:
        return attributes[prefix]
    tree: dict[str, Any] = {}
    start = len(prefix) + 1
    for key, value in attributes.items():
        if not key.startswith(prefix + "."):
            continue
        node = tree
        *path, leaf = key[start:].split(".")
        for segment in path:
            child = node.setdefault(segment, {})
            if not isinstance(child, dict):
                # ``a.b`` set both as a leaf and as a branch: keep the branch.
                child = node[segment] = {}
            node = child
        node.setdefault(leaf, value)
    return _lists(tree) if tree else None


def _lists(node: Any) -> Any:
    """Dicts whose keys are all indices become lists in index order."""
    if not isinstance(node, dict):
        return node
    converted = {key: _lists(value) for key, value in node.items()}
    if converted and all(key.isdigit() for key in converted):
        return [converted[key] for key in sorted(converted, key=int)]
    return converted


def dig(node: Any, *path: str) -> Any:
    for segment in path:
        if not isinstance(node, dict):
            return None
        node = node.get(segment)
    return node


#: A tool's result as a tool span records it: trace id, call id, tool name, result text.
ToolResult = tuple[str | None, str | None, str | None, str]


@dataclass(eq=False)
class Span:
    """One span (or span-less group of log records), decoded enough to tell what it is."""

    where: str
    position: int
    name: str
    trace_id: str | None
    span_id: str | None
    start: int | None
    attributes: dict[str, Any]
    #: ``(event name, body, time)`` of the GenAI events attached to this span.
    events: list[tuple[str, Any, int | None]] = field(default_factory=list)
    #: Whether the span's status is an error (the call raised: the model's answer is missing).
    failed: bool = False


def decode_span(raw: dict[str, Any], where: str, position: int) -> Span:
    span_id = hex_id(_get(raw, "spanId"), 8)
    name = raw["name"] if isinstance(raw.get("name"), str) else ""
    label = f"{where} (span {span_id or '?'}{' ' + name if name else ''})"
    span = Span(
        where=label,
        position=position,
        name=name,
        trace_id=hex_id(_get(raw, "traceId"), 16),
        span_id=span_id,
        start=nanos(_get(raw, "startTimeUnixNano")),
        attributes=decode_attributes(raw.get("attributes"), label),
        failed=_failed(raw.get("status")),
    )
    for n, event in enumerate(_list(raw.get("events"), f"{label}: events")):
        event = _object(event, f"{label}: event #{n}")
        event_name = event.get("name")
        if event_name == _DETAILS_EVENT:
            attributes = decode_attributes(event.get("attributes"), f"{label}: event {event_name}")
            _add_content(span, attributes)
        elif isinstance(event_name, str) and event_name in _EVENT_NAMES:
            attributes = decode_attributes(event.get("attributes"), f"{label}: event {event_name}")
            span.events.append(
                (event_name, _span_event_body(attributes), nanos(_get(event, "timeUnixNano")))
            )
    return span


def _failed(status: Any) -> bool:
    """An error status: ``code`` 2, or its name as protobuf's own JSON writes it."""
    code = _get(status, "code") if isinstance(status, dict) else None
    return code in (2, "2", "STATUS_CODE_ERROR")


#: Said of a call whose span failed; the message itself is not copied (it may quote credentials).
FAILED = "the call failed (the span's status is an error): the trace has no answer from the model"


def _add_content(span: Span, attributes: dict[str, Any]) -> None:
    """A details event's content, where its span has none of its own (both may hold it)."""
    for key in _CONTENT_KEYS:
        if key in attributes:
            span.attributes.setdefault(key, attributes[key])


def _span_event_body(attributes: dict[str, Any]) -> Any:
    """Span events have no body: producers put the body's fields in attributes, or the body as
    JSON text in one attribute."""
    for key in ("body", "event.body", "gen_ai.event.content"):
        if key in attributes:
            return attributes[key]
    return {key: value for key, value in attributes.items() if not key.startswith("gen_ai.system")}


# -- reading messages ----------------------------------------------------------------------------


class Reader:
    """Reads one span into a model call, collecting the guesses it makes."""

    def __init__(self, span: Span) -> None:
        self.span = span
        self.guesses: list[str] = []

    def guess(self, line: str) -> None:
        if line not in self.guesses:
            self.guesses.append(line)

    def fail(self, problem: str) -> TraceError:
        return TraceError(f"{self.span.where}: {problem}")

    def json_value(self, key: str, value: Any) -> Any:
        """A value that may be JSON text, or JSON text of JSON text."""
        if not isinstance(value, str):
            return value
        try:
            decoded = json.loads(value)
        except ValueError:
            raise self.fail(f"{key} is not valid JSON (truncated?)") from None
        except RecursionError:
            raise self.fail(f"{key} is nested too deeply") from None
        if isinstance(decoded, str) and decoded.strip()[:1] in ("[", "{"):
            self.guess(f"{key} was JSON text inside JSON text; decoded twice")
            return self.json_value(key, decoded)
        return decoded

    def number(self, key: str, value: Any, integer: bool) -> int | float | None:
        if isinstance(value, bool):
            raise self.fail(f"{key} is a boolean, not a number")
        if isinstance(value, str):
            try:
                parsed = float(value)
            except ValueError:
                raise self.fail(f"{key} {value[:20]!r} is not a number") from None
            self.guess(f"{key} was a string ({value[:20]!r}); read as a number")
            value = parsed
        if not isinstance(value, int | float) or not math.isfinite(value):
            raise self.fail(f"{key} is not a finite number")
        return int(value) if integer and float(value).is_integer() else value

    def params(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for key, name in _PARAMS.items():
            value = self.span.attributes.get(key)
            if value is None or name in found:
                continue
            if name == "stop":
                found[name] = value if isinstance(value, list) else [value]
            else:
                found[name] = self.number(key, value, name in _INTEGER_PARAMS)
        return found

    def model(self) -> str | None:
        for key in ("gen_ai.request.model", "gen_ai.response.model"):
            value = self.span.attributes.get(key)
            if isinstance(value, str) and value:
                return value
        return None

    def text(self, value: Any, what: str) -> str | None:
        """Message content as text: a string, or text parts joined."""
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, list):
            texts = []
            for part in value:
                if isinstance(part, str):
                    texts.append(part)
                elif isinstance(part, dict) and part.get("type") == "text":
                    content = part.get("content", part.get("text"))
                    if not isinstance(content, str):
                        raise self.fail(f"{what}: a text part has no text")
                    texts.append(content)
                else:
                    kind = part.get("type") if isinstance(part, dict) else type(part).__name__
                    self.guess(f"dropped a {kind} part of {what}: only text is replayed")
            return "\n".join(texts)
        return json.dumps(value, ensure_ascii=False)

    def arguments(self, raw: Any, what: str) -> tuple[str, dict[str, Any] | None]:
        if raw is None:
            return "{}", {}
        if not isinstance(raw, str):
            self.guess(f"{what}: tool-call arguments were objects, not JSON text")
        elif raw.strip()[:1] == '"':
            try:
                inner = json.loads(raw)
            except ValueError:
                inner = None
            if isinstance(inner, str):
                self.guess(f"{what}: tool-call arguments were JSON text inside JSON text")
                raw = inner
        return parse_arguments(raw)

    def tool_call(self, part: dict[str, Any], what: str) -> dict[str, Any]:
        """A ``tool_call`` part as a Chat Completions tool call."""
        name = part.get("name")
        if not isinstance(name, str) or not name:
            raise self.fail(f"{what}: a tool_call part has no name")
        call_id = part.get("id")
        if not isinstance(call_id, str) or not call_id:
            call_id = f"call_{self.span.span_id or self.span.position}_{name}"
            self.guess(f"{what}: a call to {name} had no id; named it {call_id}")
        text, _ = self.arguments(part.get("arguments"), what)
        return {"id": call_id, "type": "function", "function": {"name": name, "arguments": text}}

    def messages(self, raw: Any, key: str) -> tuple[str | None, list[dict[str, Any]]]:
        """Convention messages (``role`` and ``parts``, or Chat Completions-like ``content``) ->
        leading system text and Chat Completions messages."""
        decoded = self.json_value(key, raw)
        if not isinstance(decoded, list):
            raise self.fail(f"{key} is not a list of messages")
        system: list[str] = []
        messages: list[dict[str, Any]] = []
        for n, message in enumerate(decoded):
            what = f"{key}[{n}]"
            if not isinstance(message, dict) or not isinstance(message.get("role"), str):
                raise self.fail(f"{what} has no role")
            role = message["role"]
            if "parts" in message:
                converted = self.parts_message(role, message["parts"], what)
            else:
                converted = self.chat_message(role, message, what)
            if role == "system" and not messages:
                system.extend(m["content"] for m in converted if m.get("content"))
                continue
            messages.extend(converted)
        return ("\n".join(system) if system else None), messages

    def parts_message(self, role: str, parts: Any, what: str) -> list[dict[str, Any]]:
        if not isinstance(parts, list):
            raise self.fail(f"{what}: parts is not a list")
        if not parts:
            # opentelemetry-instrumentation-openai-v2 records content given as a list of parts
            # this way: the message was there, its content is lost.
            self.guess(f"{what}: a {role} message without parts (its content was not recorded)")
            return []
        texts: list[dict[str, Any]] = []
        calls: list[dict[str, Any]] = []
        results: list[dict[str, Any]] = []
        for part in parts:
            if not isinstance(part, dict) or not isinstance(part.get("type"), str):
                raise self.fail(f"{what}: a part has no type")
            kind = part["type"]
            if kind == "tool_call":
                calls.append(self.tool_call(part, what))
            elif kind == "tool_call_response":
                results.append(self.tool_result(part, role, what))
            else:
                texts.append(part)
        out: list[dict[str, Any]] = []
        if role == "tool" or (results and not texts and not calls):
            return results
        message: dict[str, Any] = {
            "role": role,
            "content": self.text(texts, what) if texts else None,
        }
        if calls:
            message["tool_calls"] = calls
        if message["content"] is not None or calls:
            out.append(message)
        return out + results

    def tool_result(self, part: dict[str, Any], role: str, what: str) -> dict[str, Any]:
        if role != "tool":
            self.guess(f"{what}: tool results were in a {role} message; read as tool messages")
        content = part["response"] if "response" in part else part.get("result")
        if not isinstance(content, str):
            content = json.dumps(content, ensure_ascii=False)
        call_id = part.get("id")
        return {
            "role": "tool",
            "tool_call_id": call_id if isinstance(call_id, str) else None,
            "content": content,
        }

    def chat_message(self, role: str, message: dict[str, Any], what: str) -> list[dict[str, Any]]:
        """A message already in Chat Completions shape (older producers and event bodies)."""
        out: dict[str, Any] = {"role": role, "content": self.text(message.get("content"), what)}
        calls = message.get("tool_calls")
        if calls:
            if not isinstance(calls, list):
                raise self.fail(f"{what}: tool_calls is not a list")
            out["tool_calls"] = [self.chat_tool_call(call, what) for call in calls]
        if role == "tool":
            call_id = message.get("tool_call_id", message.get("id"))
            out["tool_call_id"] = call_id if isinstance(call_id, str) else None
            if out["content"] is None:
                out["content"] = ""
        return [out]

    def chat_tool_call(self, call: Any, what: str) -> dict[str, Any]:
        if not isinstance(call, dict):
            raise self.fail(f"{what}: a tool call is not an object")
        function: dict[str, Any] = (
            call["function"] if isinstance(call.get("function"), dict) else call
        )
        return self.tool_call(
            {
                "name": function.get("name"),
                "id": call.get("id"),
                "arguments": function.get("arguments"),
            },
            what,
        )

    def tools(self, raw: Any, key: str = "gen_ai.tool.definitions") -> list[dict[str, Any]]:
        decoded = self.json_value(key, raw)
        if not isinstance(decoded, list):
            raise self.fail(f"{key} is not a list")
        tools = []
        for n, tool in enumerate(decoded):
            if not isinstance(tool, dict):
                raise self.fail(f"{key}[{n}] is not an object")
            function: dict[str, Any] = (
                tool["function"] if isinstance(tool.get("function"), dict) else tool
            )
            name = function.get("name")
            if not isinstance(name, str) or not name:
                raise self.fail(f"{key}[{n}] has no name")
            definition: dict[str, Any] = {"name": name}
            if isinstance(function.get("description"), str):
                definition["description"] = function["description"]
            parameters = function.get("parameters", function.get("input_schema"))
            if isinstance(parameters, str):
                parameters = self.json_value(f"{key}[{n}].parameters", parameters)
            definition["parameters"] = (
                parameters if isinstance(parameters, dict) else {"type": "object"}
            )
            tools.append({"type": "function", "function": definition})
        return tools


def tool_records(calls: list[dict[str, Any]]) -> list[ToolCallRecord]:
    records = []
    for call in calls:
        text, parsed = parse_arguments(call["function"]["arguments"])
        records.append(
            ToolCallRecord(
                id=call["id"], name=call["function"]["name"], arguments=parsed, arguments_raw=text
            )
        )
    return records


def match_results(messages: list[dict[str, Any]], guess: Any) -> list[dict[str, Any]]:
    """Tool messages whose id names no earlier call are given the id of the unanswered call
    they answer (in order), as a replay needs ids that match."""
    unanswered: list[str] = []
    fixed = []
    for message in messages:
        for call in message.get("tool_calls", ()):
            unanswered.append(call["id"])
        if message.get("role") == "tool":
            call_id = message.get("tool_call_id")
            if call_id in unanswered:
                unanswered.remove(call_id)
            elif unanswered:
                chosen = unanswered.pop(0)
                guess(f"tool result id {call_id!r} matches no call; read as the answer to {chosen}")
                message = {**message, "tool_call_id": chosen}
            else:
                guess(f"tool result id {call_id!r} answers no tool call in the conversation")
        fixed.append(message)
    return fixed


# -- spans and events -> calls -------------------------------------------------------------------


def _collect(document: Any, file: str) -> tuple[list[Span], list[Span]]:
    """The chat spans (and span-less event groups), and the ``execute_tool`` spans."""
    chats: list[Span] = []
    tools: list[Span] = []
    by_id: dict[tuple[str | None, str], Span] = {}
    position = 0
    for raw, where in iter_spans(document, file):
        span = decode_span(raw, where, position)
        position += 1
        operation = span.attributes.get("gen_ai.operation.name")
        if operation == "execute_tool":
            tools.append(span)
            continue
        if span.span_id:
            by_id[(span.trace_id, span.span_id)] = span
        if operation in _CHAT_OPERATIONS or (
            operation is None and (span.events or _has_content(span))
        ):
            chats.append(span)
    orphans: dict[tuple[str | None, str | None], Span] = {}
    for raw, where in iter_log_records(document, file):
        attributes = decode_attributes(raw.get("attributes"), where)
        name = _get(raw, "eventName") or attributes.get("event.name")
        if name == _DETAILS_EVENT:
            position = _details_record(raw, where, attributes, position, chats, by_id)
            continue
        if not isinstance(name, str) or name not in _EVENT_NAMES:
            continue
        body = (
            any_value(raw["body"], f"{where}: body") if isinstance(raw.get("body"), dict) else None
        )
        if body is None:
            body = {k: v for k, v in attributes.items() if k not in ("event.name", "gen_ai.system")}
        key = (hex_id(_get(raw, "traceId"), 16), hex_id(_get(raw, "spanId"), 8))
        time = nanos(_get(raw, "timeUnixNano")) or nanos(_get(raw, "observedTimeUnixNano"))
        owner = by_id.get((key[0], key[1])) if key[1] is not None else None
        if owner is None:
            if key[1] is None:
                # Records with no span: a choice closes a call, the next message opens another.
                last = orphans.get(key)
                if (
                    last is not None
                    and last.events
                    and last.events[-1][0] == "gen_ai.choice"
                    and name != "gen_ai.choice"
                ):
                    orphans.pop(key)
                    chats.append(last)
            owner = orphans.get(key)
            if owner is None:
                owner = Span(
                    where=f"{where} (span {key[1] or '?'})",
                    position=position,
                    name="",
                    trace_id=key[0],
                    span_id=key[1],
                    start=time,
                    attributes={},
                )
                position += 1
                orphans[key] = owner
                if key[1] is not None:
                    by_id[(key[0], key[1])] = owner
        elif owner not in chats:
            chats.append(owner)
        owner.events.append((name, body, time))
    chats.extend(span for span in orphans.values() if span not in chats)
    return chats, tools


def _details_record(
    raw: dict[str, Any],
    where: str,
    attributes: dict[str, Any],
    position: int,
    chats: list[Span],
    by_id: dict[tuple[str | None, str], Span],
) -> int:
    """A ``gen_ai.client.inference.operation.details`` record: its content joins its span's
    attributes; without a span it is a call of its own. Gives the next span position."""
    trace_id, span_id = hex_id(_get(raw, "traceId"), 16), hex_id(_get(raw, "spanId"), 8)
    owner = by_id.get((trace_id, span_id)) if span_id is not None else None
    if owner is None:
        owner = Span(
            where=f"{where} (span {span_id or '?'})",
            position=position,
            name="",
            trace_id=trace_id,
            span_id=span_id,
            start=nanos(_get(raw, "timeUnixNano")) or nanos(_get(raw, "observedTimeUnixNano")),
            attributes=dict(attributes),
        )
        position += 1
        if span_id is not None:
            by_id[(trace_id, span_id)] = owner
    else:
        _add_content(owner, attributes)
    if owner not in chats:
        chats.append(owner)
    return position


def _has_content(span: Span) -> bool:
    return (
        "gen_ai.input.messages" in span.attributes
        or "gen_ai.output.messages" in span.attributes
        or _is_indexed(span)
    )


def _is_indexed(span: Span) -> bool:
    return any(key.startswith(_INDEXED) for key in span.attributes)


def _indexed_items(reader: Reader, prefix: str) -> list[Any]:
    """The numbered entries under ``prefix`` (``gen_ai.prompt.0``, ``.1``, ...), in order; the
    named ones beside them (``gen_ai.prompt.prompt_filter_results``) are no messages, nor is a
    value under ``prefix`` itself."""
    below = prefix + "."
    tree = unflatten(
        {key: value for key, value in reader.span.attributes.items() if key.startswith(below)},
        prefix,
    )
    if isinstance(tree, list):
        return tree
    if not isinstance(tree, dict):
        return []
    return [tree[key] for key in sorted((k for k in tree if k.isdigit()), key=int)]


def _indexed_message(reader: Reader, item: Any, what: str, role: str | None) -> dict[str, Any]:
    """An OpenLLMetry message (``role``, ``content``, ``tool_call_id``, ``tool_calls.J.{id,
    name,arguments}``) as a Chat Completions-like message."""
    if not isinstance(item, dict):
        raise reader.fail(f"{what} is not a message (a value where its fields were expected)")
    found = item.get("role", role)
    if not isinstance(found, str) or not found:
        raise reader.fail(f"{what} has no role")
    content = item.get("content")
    if isinstance(content, str) and content.lstrip()[:1] == "[":
        # Content given as parts is written as the parts' JSON text.
        try:
            parts = json.loads(content)
        except (ValueError, RecursionError):
            parts = None
        if isinstance(parts, list) and all(
            isinstance(part, dict) and "type" in part for part in parts
        ):
            reader.guess(f"{what}.content was JSON text of content parts; read as the parts")
            content = parts
    calls = item.get("tool_calls")
    if calls is not None and not isinstance(calls, list):
        raise reader.fail(f"{what}.tool_calls is not numbered (tool_calls.0.name, ...)")
    message: dict[str, Any] = {"role": found, "content": content, "tool_calls": calls}
    if "tool_call_id" in item:
        message["tool_call_id"] = item["tool_call_id"]
    return message


def _indexed_messages(
    reader: Reader,
) -> tuple[str | None, list[dict[str, Any]], dict[str, Any] | None]:
    """OpenLLMetry's form: system text, input messages, and the first completion's message."""
    system: list[str] = []
    messages: list[dict[str, Any]] = []
    for n, item in enumerate(_indexed_items(reader, "gen_ai.prompt")):
        what = f"gen_ai.prompt.{n}"
        message = _indexed_message(reader, item, what, None)
        converted = reader.chat_message(message["role"], message, what)
        if message["role"] == "system" and not messages:
            system.extend(m["content"] for m in converted if m.get("content"))
            continue
        messages.extend(converted)
    completions = _indexed_items(reader, "gen_ai.completion")
    if len(completions) > 1:
        reader.guess(f"{len(completions)} completions (choices); kept the first")
    answer = None
    if completions:
        what = "gen_ai.completion.0"
        first = completions[0]
        message = _indexed_message(reader, first, what, "assistant")
        finish = first.get("finish_reason")
        if finish == "content_filter":
            reader.guess(f"{what} was filtered (finish_reason content_filter); kept as written")
        if message["content"] is None and isinstance(first.get("refusal"), str):
            reader.guess(f"{what} is a refusal; read its text as the answer")
            message["content"] = first["refusal"]
        answer = reader.chat_message("assistant", message, what)[0]
    return ("\n".join(system) if system else None), messages, answer


def _event_messages(
    reader: Reader, span: Span
) -> tuple[str | None, list[dict[str, Any]], dict[str, Any] | None]:
    """The older event form: system text, input messages, and the first choice's message."""
    system: list[str] = []
    messages: list[dict[str, Any]] = []
    choice: dict[str, Any] | None = None
    events = span.events
    if all(time is not None for _, _, time in events):
        ordered = sorted(events, key=lambda event: event[2] or 0)
        if ordered != events:
            reader.guess("events were out of time order; sorted by time")
        events = ordered
    for name, raw_body, _ in events:
        what = f"event {name}"
        body = reader.json_value(what, raw_body) if isinstance(raw_body, str) else raw_body
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise reader.fail(f"{what}: the body is not an object")
        if name == "gen_ai.choice":
            message = body.get("message", body)
            if not isinstance(message, dict):
                raise reader.fail(f"{what}: message is not an object")
            index = body.get("index", 0)
            if choice is None or index in (0, "0"):
                if choice is not None:
                    reader.guess("several choices; kept choice 0")
                choice = message
            else:
                reader.guess("several choices; kept choice 0")
            continue
        role = (
            body["role"] if isinstance(body.get("role"), str) else name[7:].removesuffix(".message")
        )
        if role == "system" and not messages:
            text = reader.text(body.get("content"), what)
            if text:
                system.append(text)
            continue
        messages.extend(reader.chat_message(role, body, what))
    return ("\n".join(system) if system else None), messages, choice


def _read_span(span: Span, file: str, index: int) -> tuple[ModelCall, Reader]:
    reader = Reader(span)
    attributes = span.attributes
    if "gen_ai.input.messages" in attributes or "gen_ai.output.messages" in attributes:
        system, messages = reader.messages(
            attributes.get("gen_ai.input.messages", "[]"), "gen_ai.input.messages"
        )
        _, outputs = reader.messages(
            attributes.get("gen_ai.output.messages", "[]"), "gen_ai.output.messages"
        )
        answers = [message for message in outputs if message.get("role") == "assistant"]
        if len(answers) > 1:
            reader.guess(f"{len(answers)} output messages (choices); kept the first")
        answer = answers[0] if answers else None
    elif _is_indexed(span):
        system, messages, answer = _indexed_messages(reader)
    elif span.events:
        system, messages, choice = _event_messages(reader, span)
        answer = (
            reader.chat_message("assistant", choice, "event gen_ai.choice")[0] if choice else None
        )
    else:
        raise reader.fail("the chat span holds no messages")
    instructions = attributes.get("gen_ai.system_instructions")
    if instructions is not None:
        decoded = (
            reader.json_value("gen_ai.system_instructions", instructions)
            if isinstance(instructions, str) and instructions.strip()[:1] == "["
            else instructions
        )
        text = reader.text(decoded, "gen_ai.system_instructions")
        system = "\n".join(filter(None, [text, system]))
    calls = tool_records(answer.get("tool_calls", []) if answer else [])
    messages = match_results(messages, reader.guess)
    functions = _indexed_items(reader, "llm.request.functions")
    if "gen_ai.tool.definitions" in attributes:
        tools = reader.tools(attributes["gen_ai.tool.definitions"])
    elif functions:
        tools = reader.tools(functions, "llm.request.functions")
    else:
        tools, inferred = infer_tools(messages, calls)
        if inferred:
            reader.guess(inferred)
    if span.trace_id is None or span.span_id is None:
        reader.guess("the span has no readable trace or span id")
    call = ModelCall(
        index=index,
        source=Source(format=NAME, file=file, trace_id=span.trace_id, span_id=span.span_id),
        model=reader.model(),
        system=system or None,
        messages=tuple(messages),
        tools=tuple(tools),
        tool_calls=tuple(calls),
        output=answer.get("content") if answer else None,
        params=reader.params(),
        guesses=(),
        time=seconds(span.start, per_second=1_000_000_000),
    )
    return call, reader


def tool_result(span: Span, result: Any, call_id: Any, name: Any) -> ToolResult:
    """A tool span's record of a result, whatever types the attributes had."""
    return (
        span.trace_id,
        call_id if isinstance(call_id, str) else None,
        name if isinstance(name, str) else None,
        result if isinstance(result, str) else json.dumps(result, ensure_ascii=False),
    )


def _execute_tool_result(span: Span) -> ToolResult:
    attributes = span.attributes
    return tool_result(
        span,
        attributes["gen_ai.tool.call.result"],
        attributes.get("gen_ai.tool.call.id"),
        attributes.get("gen_ai.tool.name"),
    )


def operation_unknown(span: Span) -> bool:
    attributes = span.attributes
    # OpenLLMetry names the operation its own way.
    return (
        attributes.get("gen_ai.operation.name") is None
        and attributes.get("llm.request.type") != "chat"
        and _has_content(span)
    )


def order_spans(chats: list[Span]) -> tuple[list[Span], str | None]:
    """Chat spans by start time (file order when a span has none), and a guess when the file
    had them in another order."""
    if any(span.start is None for span in chats):
        return chats, (
            "some spans have no start time; kept in file order" if len(chats) > 1 else None
        )
    ordered = sorted(chats, key=lambda span: (span.start, span.position))
    if ordered != chats:
        return ordered, "the spans were out of time order in the file; sorted by start time"
    return ordered, None


def attach_results(
    calls: list[ModelCall], readers: list[Reader], results: list[ToolResult]
) -> list[ModelCall]:
    """Each tool call's result: from the tool span with its id, else from a later call's tool
    message with the same id, else (with a guess) from a tool span of the same tool in the same
    trace whose id names no call."""
    by_id: dict[str, str] = {}
    spare: list[tuple[str | None, str, str]] = []
    known = {record.id for call in calls for record in call.tool_calls}
    for trace_id, call_id, name, text in results:
        if call_id is not None and call_id in known:
            by_id[call_id] = text
        elif name is not None:
            spare.append((trace_id, name, text))
    for call in calls:
        for message in call.messages:
            if message.get("role") == "tool" and isinstance(message.get("tool_call_id"), str):
                by_id.setdefault(message["tool_call_id"], message.get("content") or "")
    out = []
    for call, reader in zip(calls, readers, strict=True):
        records = []
        for record in call.tool_calls:
            result = by_id.get(record.id)
            if result is None:
                for candidate in spare:
                    if candidate[:2] == (call.source.trace_id, record.name):
                        spare.remove(candidate)
                        result = candidate[2]
                        reader.guess(
                            f"the result of {record.name} ({record.id}) was matched by tool name "
                            "(the tool span's call id is missing or differs)"
                        )
                        break
            records.append(
                ToolCallRecord(
                    record.id, record.name, record.arguments, record.arguments_raw, result
                )
            )
        out.append(replace(call, tool_calls=tuple(records), guesses=tuple(reader.guesses)))
    return out


# -- the importer's interface --------------------------------------------------------------------


def _attribute_keys(document: Any) -> Iterator[str]:
    for request in _requests(document):
        for group, scopes, items in (
            ("resourceSpans", "scopeSpans", "spans"),
            ("resourceLogs", "scopeLogs", "logRecords"),
        ):
            for resource in _lenient(_get(request, group)):
                if not isinstance(resource, dict):
                    continue
                for scope in _lenient(_get(resource, scopes)):
                    if not isinstance(scope, dict):
                        continue
                    for item in _lenient(_get(scope, items)):
                        if not isinstance(item, dict) or not isinstance(
                            item.get("attributes"), list
                        ):
                            continue
                        for pair in item["attributes"]:
                            if isinstance(pair, dict) and isinstance(pair.get("key"), str):
                                yield pair["key"]


def _lenient(value: Any) -> list[Any]:
    """A list, or nothing: detection looks without judging (reading judges)."""
    return value if isinstance(value, list) else []


def has_openinference_attributes(document: Any) -> bool:
    return any(key.startswith(OPENINFERENCE_MARKERS) for key in _attribute_keys(document))


def detect(document: Any) -> bool:
    """OTLP JSON that is not OpenInference's (which uses the same container)."""
    document = parsed_value(document)
    return is_container(document) and not has_openinference_attributes(document)


#: Chat spans a streamed log remembers, so that the GenAI events written after them (the
#: same content again, in log records) are known for theirs; the oldest are forgotten first.
STREAM_SPANS_KEPT = 100_000


def streamed(document: Any, file: str, state: dict[str, Any]) -> list[ModelCall] | None:
    """One export request of a JSONL log (the Collector's ``file`` exporter writes one a line)
    read on its own, for a scan: none when it holds no chat span (most batches of a service
    are its other spans); ``None`` when its calls need other records (chat spans without their
    content, or GenAI events of spans not read yet); else the calls of its chat spans. Events
    of chat spans already read (written beside the span attributes) add nothing."""
    value = parsed_value(document)
    if not is_container(value) or has_openinference_attributes(value):
        return None
    seen: OrderedDict[tuple[str | None, str], None] = state.setdefault("spans", OrderedDict())
    for raw, _ in iter_log_records(value, file):
        span_id = hex_id(_get(raw, "spanId"), 8)
        if span_id is None or (hex_id(_get(raw, "traceId"), 16), span_id) not in seen:
            return None
    spans_only = [
        {"resourceSpans": _get(request, "resourceSpans") or []} for request in _requests(value)
    ]
    chats, _ = _collect(spans_only, file)
    if not chats:
        return []
    if not all(_has_content(span) for span in chats):
        return None
    for span in chats:
        if span.span_id is not None:
            seen[(span.trace_id, span.span_id)] = None
    while len(seen) > STREAM_SPANS_KEPT:
        seen.popitem(last=False)
    return read(spans_only, file)


def read(document: Any, file: str) -> list[ModelCall]:
    """The model calls of an OTLP JSON document: one per chat span (or group of GenAI events),
    in start-time order."""
    document = parsed_value(document)
    if not is_container(document):
        raise TraceError(f"{file}: not OTLP JSON (no resourceSpans or resourceLogs)")
    try:
        chats, tools = _collect(document, file)
        if not chats:
            raise TraceError(
                f"{file}: no GenAI model call in this OTLP file (no chat span, no gen_ai.* events)"
            )
        empty = [span for span in chats if not span.events and not _has_content(span)]
        chats = [span for span in chats if span.events or _has_content(span)]
        if not chats:
            raise TraceError(
                f"{file}: the chat spans hold no message content (the instrumentation did not "
                "capture it: set OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT)"
            )
        ordered, order_guess = order_spans(chats)
        calls = []
        readers = []
        for index, span in enumerate(ordered):
            call, reader = _read_span(span, file, index)
            if order_guess:
                reader.guess(order_guess)
            if operation_unknown(span):
                reader.guess("the span names no gen_ai.operation.name; read as a chat call")
            if span.failed:
                reader.guess(FAILED)
            if empty:
                reader.guess(f"{len(empty)} chat span(s) without message content were left out")
            calls.append(call)
            readers.append(reader)
        return attach_results(
            calls,
            readers,
            [
                _execute_tool_result(span)
                for span in tools
                if "gen_ai.tool.call.result" in span.attributes
            ],
        )
    except RecursionError:
        raise TraceError(f"{file}: the OTLP JSON is nested too deeply") from None
