"""Messages as LLM observability tools store them, read into Chat Completions messages.

Langfuse and LangSmith keep what the application handed the model, in whatever shape it had:
Chat Completions messages, LangChain messages as dicts (``type`` ``human``/``ai``/``tool``) or
serialised (``{"lc": 1, "type": "constructor", "id": [..., "AIMessage"], "kwargs": {...}}``),
tool calls as OpenAI writes them (``function.arguments`` text) or as LangChain does (``name``,
``args``, ``id``). This module reads all of them, and joins the results that tools recorded on
their own (a Langfuse ``TOOL`` observation, a LangSmith ``tool`` run) to the calls they answer.

Only the fields named here are read: the rest of a record (metadata, headers, serialised
constructors holding API keys) is never copied into a message.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any

from incident_evals.json_types import a_json_type
from incident_evals.traces import (
    ModelCall,
    Source,
    ToolCallRecord,
    TraceError,
    infer_tools,
    parse_arguments,
    seconds,
)
from incident_evals.traces.formats import Document, names, text_of
from incident_evals.traces.otlp import Reader, Span, match_results

__all__ = [
    "Notes",
    "ToolRun",
    "assemble",
    "by_trace_and_time",
    "guarded",
    "iso_seconds",
    "labelled",
    "model_call",
    "result_text",
    "source",
    "tool_message",
]

#: LangChain message types (``type`` of a message dict, or the class a serialised one names).
_ROLES = {
    "human": "user",
    "user": "user",
    "HumanMessage": "user",
    "ai": "assistant",
    "assistant": "assistant",
    "AIMessage": "assistant",
    "system": "system",
    "SystemMessage": "system",
    "developer": "system",
    "tool": "tool",
    "ToolMessage": "tool",
    "function": "function",
    "FunctionMessage": "function",
    "chat": "chat",
    "ChatMessage": "chat",
}
_INTEGER_PARAMS = frozenset({"max_tokens", "seed"})
#: Parameter names as tools record them -> as Chat Completions names them.
_PARAMS = {
    "temperature": "temperature",
    "top_p": "top_p",
    "max_tokens": "max_tokens",
    "max_completion_tokens": "max_tokens",
    "max_output_tokens": "max_tokens",
    "seed": "seed",
    "frequency_penalty": "frequency_penalty",
    "presence_penalty": "presence_penalty",
    "stop": "stop",
    "stop_sequences": "stop",
}


#: Content parts that are tool calls, and tool results, in the producers' several namings.
_CALL_PARTS = frozenset({"tool_use", "tool-call", "tool_call"})
_RESULT_PARTS = frozenset({"tool_result", "tool-result", "tool_call_response"})
_TOOL_PARTS = _CALL_PARTS | _RESULT_PARTS


def _part_kind(part: Any) -> str:
    kind = part.get("type") if isinstance(part, dict) else None
    return kind if isinstance(kind, str) else ""


def _first(part: dict[str, Any], *keys: str) -> Any:
    return next((part[key] for key in keys if part.get(key) is not None), None)


class Notes:
    """What one record (observation, run) says it had to guess, and how it fails: the OTLP
    importer's reader, for a record that is not a span."""

    def __init__(self, where: str) -> None:
        self.reader = Reader(Span(where, 0, "", None, None, None, {}))
        self.guesses = self.reader.guesses
        self.guess = self.reader.guess
        self.fail = self.reader.fail

    def decoded(self, value: Any, key: str) -> Any:
        """A field that may hold JSON as text: decoded once (never again, however deep the
        text nests), with a guess; text that is not JSON stays text."""
        if not isinstance(value, str) or value.strip()[:1] not in ("{", "["):
            return value
        try:
            found = json.loads(value)
        except ValueError:
            return value
        except RecursionError:
            raise self.fail(f"{key} is nested too deeply") from None
        self.guess(f"{key} was JSON text inside the JSON; decoded it")
        return found

    def number(self, key: str, value: Any, integer: bool) -> int | float | None:
        """A parameter's number; ``None`` (with a guess) for one that means "no limit"."""
        try:
            unlimited = isinstance(value, str | float) and math.isinf(float(value))
        except (ValueError, OverflowError):
            unlimited = False
        if unlimited:
            # Langfuse's OpenAI integration records an unset max_tokens as infinity.
            self.guess(f"{key} was infinite (no limit set); left out")
            return None
        try:
            return self.reader.number(key, value, integer)
        except OverflowError:
            raise self.fail(f"{key} is too large a number") from None

    def params(self, raw: Any, key: str) -> dict[str, Any]:
        """Request parameters a replay sends again, as Chat Completions names them."""
        raw = self.decoded(raw, key)
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            raise self.fail(f"{key} is {a_json_type(raw)}, not an object")
        found: dict[str, Any] = {}
        for name, chat_name in _PARAMS.items():
            value = raw.get(name)
            if value is None or chat_name in found:
                continue
            if chat_name == "stop":
                stops = value if isinstance(value, list) else [value]
                found["stop"] = [str(stop) for stop in stops]
                continue
            number = self.number(f"{key}.{name}", value, chat_name in _INTEGER_PARAMS)
            if number is not None:
                found[chat_name] = number
        return found

    # -- messages ------------------------------------------------------------------------------

    def conversation(
        self, raw: Any, key: str
    ) -> tuple[str | None, list[dict[str, Any]], list[dict[str, Any]]]:
        """A list of messages -> the leading system text, Chat Completions messages, and the
        tool definitions some integrations put among the messages."""
        if not isinstance(raw, list):
            raise self.fail(f"{key} is {a_json_type(raw)}, not a list of messages")
        system: list[str] = []
        messages: list[dict[str, Any]] = []
        tools: list[dict[str, Any]] = []
        for n, item in enumerate(raw):
            what = f"{key}[{n}]"
            for message in self.parts(self.message(item, what), what):
                content = message.get("content")
                if (
                    message["role"] == "tool"
                    and isinstance(content, dict)
                    and not message.get("tool_call_id")
                ):
                    # Langfuse's LangChain handler appends the tool definitions as tool messages.
                    tools.extend(self.tools([content], what))
                    self.guess("tool definitions were given as tool messages; read as definitions")
                    continue
                if message["role"] == "system" and not messages:
                    if content:
                        system.append(self.text(content, what) or "")
                    continue
                if not isinstance(content, str | None):
                    message["content"] = self.text(content, what)
                messages.append(message)
        return ("\n\n".join(system) if system else None), messages, tools

    def parts(self, message: dict[str, Any], what: str) -> list[dict[str, Any]]:
        """A message whose content parts hold tool calls or results (Anthropic's ``tool_use`` /
        ``tool_result`` blocks, the Vercel AI SDK's ``tool-call`` / ``tool-result`` parts, the
        GenAI conventions' ``tool_call`` / ``tool_call_response``) as Chat Completions messages:
        the calls in the message's ``tool_calls``, each result a tool message before it."""
        content = message.get("content")
        if not isinstance(content, list) or not any(
            _part_kind(part) in _TOOL_PARTS for part in content
        ):
            return [message]
        texts: list[Any] = []
        calls: list[dict[str, Any]] = []
        results: list[dict[str, Any]] = []
        for part in content:
            kind = _part_kind(part)
            if kind in _CALL_PARTS:
                found = {
                    "id": _first(part, "id", "toolCallId", "call_id"),
                    "name": _first(part, "name", "toolName"),
                    "args": _first(part, "input", "args", "arguments"),
                }
                calls.append(self.tool_call(found, f"{what}: a {kind} part"))
            elif kind in _RESULT_PARTS:
                call_id = _first(part, "tool_use_id", "toolCallId", "id", "call_id")
                result = _first(part, "content", "result", "output", "response")
                blocks = isinstance(result, list) and all(
                    isinstance(block, dict) and "type" in block for block in result
                )
                text = self.text(result, what) if blocks else result_text(result)
                results.append(
                    {
                        "role": "tool",
                        "tool_call_id": call_id if isinstance(call_id, str) else None,
                        "content": text or "",
                    }
                )
            else:
                texts.append(part)
        if results and message["role"] != "tool":
            self.guess(f"{what}: tool results were content parts; read as tool messages")
        kept = {**message, "content": self.text(texts, what) if texts else None}
        listed = list(message.get("tool_calls", ()))
        # LangChain keeps an Anthropic answer's tool_use blocks and its tool_calls both.
        known = {call["id"] for call in listed}
        calls = [call for call in calls if call["id"] is None or call["id"] not in known]
        if calls:
            kept["tool_calls"] = [*listed, *calls]
        if results and not texts and not calls:
            return results
        return [*results, kept]

    def message(self, raw: Any, what: str) -> dict[str, Any]:
        """One message in any of the shapes above, as a Chat Completions message (its content
        still as given: :meth:`text` reads it)."""
        if not isinstance(raw, dict):
            raise self.fail(f"{what} is {a_json_type(raw)}, not a message")
        fields = raw
        kind = raw.get("role", raw.get("type"))
        if raw.get("lc") == 1 and isinstance(raw.get("kwargs"), dict):
            ids = raw.get("id")
            kind = ids[-1] if isinstance(ids, list) and ids and isinstance(ids[-1], str) else None
            kind = kind.removesuffix("Chunk") if kind else None
            fields = raw["kwargs"]
        role = _ROLES.get(kind) if isinstance(kind, str) else None
        if role == "chat":
            role = fields.get("role") if isinstance(fields.get("role"), str) else None
        if role is None:
            raise self.fail(f"{what} has no role this tool knows ({str(kind)[:30]!r})")
        if kind == "developer":
            self.guess(f"{what}: the developer message is taken as a system message")
        message: dict[str, Any] = {"role": role, "content": fields.get("content")}
        if role == "function":
            self.guess(f"{what}: a legacy function result is taken as a tool result")
            return {
                "role": "tool",
                "tool_call_id": fields.get("name"),
                "content": message["content"],
            }
        if role == "tool":
            call_id = fields.get("tool_call_id")
            message["tool_call_id"] = call_id if isinstance(call_id, str) else None
            if message["content"] is None:
                message["content"] = ""
        calls = self.tool_calls(fields, what)
        if calls:
            message["tool_calls"] = calls
        return message

    def answer(self, raw: Any, what: str) -> dict[str, Any]:
        """The model's answer as an assistant message, its content as text."""
        message = self.parts(self.message(raw, what), what)[-1]
        if message["role"] != "assistant":
            raise self.fail(f"{what} is a {message['role']} message, not the model's answer")
        message["content"] = self.text(message.get("content"), what)
        return message

    def text(self, content: Any, what: str) -> str | None:
        text, dropped = text_of(content)
        if dropped:
            self.guess(f"{what}: its {names(dropped)} parts are dropped (only text is replayed)")
        return text

    def tool_calls(self, fields: dict[str, Any], what: str) -> list[dict[str, Any]]:
        """A message's tool calls: the OpenAI form (arguments as the model wrote them) when the
        message has it, else LangChain's parsed ``{name, args, id}``."""
        extra = fields.get("additional_kwargs")
        openai_form = extra.get("tool_calls") if isinstance(extra, dict) else None
        raw = fields.get("tool_calls")
        if isinstance(openai_form, list) and openai_form:
            raw = openai_form
        if raw is None or raw == []:
            legacy = fields.get("function_call")
            if legacy is None and isinstance(extra, dict):
                legacy = extra.get("function_call")
            if isinstance(legacy, dict):
                self.guess(f"{what}: a legacy function_call is taken as a tool call")
                raw = [{"id": legacy.get("name"), "function": legacy}]
            else:
                return []
        if not isinstance(raw, list):
            raise self.fail(f"{what}: tool_calls is {a_json_type(raw)}, not a list")
        return [self.tool_call(call, f"{what}: tool call {n}") for n, call in enumerate(raw)]

    def tool_call(self, call: Any, what: str) -> dict[str, Any]:
        if not isinstance(call, dict):
            raise self.fail(f"{what} is {a_json_type(call)}, not an object")
        function = call.get("function")
        if isinstance(function, dict):
            name, arguments = function.get("name"), function.get("arguments")
        else:
            name, arguments = call.get("name"), call.get("args", call.get("arguments"))
        if not isinstance(name, str) or not name:
            raise self.fail(f"{what} has no tool name")
        if arguments is None:
            arguments = {}
        text, _ = parse_arguments(arguments)
        call_id = call.get("id")
        return {
            "id": call_id if isinstance(call_id, str) and call_id else None,
            "type": "function",
            "function": {"name": name, "arguments": text},
        }

    def records(self, calls: list[dict[str, Any]], prefix: str) -> tuple[ToolCallRecord, ...]:
        """The answer's tool calls as records; a call without an id is given one."""
        found = []
        for n, call in enumerate(calls):
            name = call["function"]["name"]
            raw, arguments = parse_arguments(call["function"]["arguments"])
            call_id = call["id"]
            if call_id is None:
                call_id = f"call_{prefix}_{n}"
                self.guess(f"the call to {name} had no id; named it {call_id}")
            if arguments is None:
                self.guess(f"the arguments of {name} are not a JSON object")
            found.append(ToolCallRecord(call_id, name, arguments, raw))
        return tuple(found)

    def tools(self, raw: Any, key: str) -> list[dict[str, Any]]:
        """Tool definitions (OpenAI's ``{"type": "function", "function": {...}}``, or the
        function alone) as Chat Completions definitions; other kinds are dropped."""
        raw = self.decoded(raw, key)
        if not isinstance(raw, list):
            raise self.fail(f"{key} is {a_json_type(raw)}, not a list of tools")
        kept: list[dict[str, Any]] = []
        for n, tool in enumerate(raw):
            if not isinstance(tool, dict):
                raise self.fail(f"{key}[{n}] is {a_json_type(tool)}, not a tool")
            kind = tool.get("type", "function")
            if kind == "function":
                kept.append(tool)
            else:
                self.guess(f"a {str(kind)[:30]} tool is dropped (only functions are replayed)")
        return self.reader.tools(kept, key)


def source(format: str, file: str, trace_id: Any, span_id: Any) -> Source:
    """Where a call came from; ids that are not text are left out."""
    return Source(
        format=format,
        file=file,
        trace_id=trace_id if isinstance(trace_id, str) and trace_id else None,
        span_id=span_id if isinstance(span_id, str) and span_id else None,
    )


def model_call(
    notes: Notes,
    *,
    index: int,
    source: Source,
    model: Any,
    conversation: tuple[Any, str],
    tools: list[dict[str, Any]],
    answer: dict[str, Any],
    params: dict[str, Any],
    start: Any,
) -> ModelCall:
    """A model call from its messages (``conversation``: the raw list and its key), declared
    tools, answer, parameters and ``start`` time (ISO 8601); a tool that is not declared is
    inferred from the calls."""
    system, messages, listed = notes.conversation(*conversation)
    tools = tools + listed
    for m, message in enumerate(messages):
        for k, call in enumerate(message.get("tool_calls", ())):
            if call["id"] is None:
                # Named, so that a later tool result can answer it.
                call["id"] = f"call_m{m}_{k}"
                notes.guess(f"an earlier call to {call['function']['name']} had no id")
    calls = notes.records(answer.get("tool_calls", []), (source.span_id or str(index))[:40])
    messages = match_results(messages, notes.guess)
    if not tools:
        tools, inferred = infer_tools(messages, list(calls))
        if inferred:
            notes.guess(inferred)
    return ModelCall(
        index=index,
        source=source,
        model=model if isinstance(model, str) and model else None,
        system=system,
        messages=tuple(messages),
        tools=tuple(tools),
        tool_calls=calls,
        output=answer_text(answer),
        params=params,
        guesses=tuple(notes.guesses),
        time=seconds(iso_seconds(start)),
    )


def guarded(
    read: Callable[[Document, str], list[ModelCall]], document: Any, file: str, what: str
) -> list[ModelCall]:
    """``read`` on a document (or its parsed value), deep nesting one error line."""
    if not isinstance(document, Document):
        document = Document("json", document)
    try:
        return read(document, file)
    except RecursionError:
        raise TraceError(f"{file}: the {what} is nested too deeply") from None


#: A record to read: where it is, the record, its position in the file.
Item = tuple[str, dict[str, Any], int]
Order = Callable[[dict[str, Any], int], tuple[Any, ...]]


def by_trace_and_time(
    records: list[dict[str, Any]],
    trace_of: Callable[[dict[str, Any]], str],
    start_of: Callable[[dict[str, Any]], float | None],
) -> Order | None:
    """Trace by trace (the one that started first, first), then by start time; ``None`` when
    a record has no readable start."""
    starts = [start_of(record) for record in records]
    if any(start is None for start in starts):
        return None
    first: dict[str, float] = {}
    for record, start in zip(records, starts, strict=True):
        trace = trace_of(record)
        first[trace] = min(first.get(trace, start or 0.0), start or 0.0)

    def order(record: dict[str, Any], position: int) -> tuple[Any, ...]:
        trace = trace_of(record)
        return (first.get(trace, 0.0), trace, start_of(record) or 0.0, position)

    return order


def assemble(
    calls: list[Item],
    tools: list[Item],
    order: Order,
    lines: tuple[str | None, str],
    build_call: Callable[[dict[str, Any], str, int], ModelCall],
    build_tool: Callable[[dict[str, Any], str, tuple[Any, ...]], ToolRun | None],
) -> list[ModelCall]:
    """The calls in execution ``order``, each tool call with its result. ``lines``: the guess
    when the order is unknown (``None``: it is known), and the one when the file had another."""
    unknown, differs = lines
    ordered = sorted(calls, key=lambda item: order(item[1], item[2]))
    line = unknown if unknown and len(calls) > 1 else (differs if ordered != calls else None)
    built = []
    orders = []
    for index, (where, record, position) in enumerate(ordered):
        call = build_call(record, where, index)
        if line:
            call = replace(call, guesses=(*call.guesses, line))
        built.append(call)
        orders.append(order(record, position))
    runs = [
        run
        for where, record, position in tools
        if (run := build_tool(record, where, order(record, position))) is not None
    ]
    return link_results(built, orders, runs)


def tool_message(output: Any) -> tuple[str | None, Any]:
    """A tool's recorded output: when it is a LangChain ToolMessage (a dict, or serialised), the
    call it names and its content; else no call and the output."""
    if not isinstance(output, dict):
        return None, output
    fields = output.get("kwargs") if output.get("lc") == 1 else output
    if not isinstance(fields, dict) or not (
        "tool_call_id" in fields or fields.get("type") == "tool" or output.get("lc") == 1
    ):
        return None, output
    call_id = fields.get("tool_call_id")
    return (call_id if isinstance(call_id, str) and call_id else None), fields.get("content", "")


def labelled(where: str, kind: str, found: Any) -> str:
    """``where`` with the record's id, when it has one that prints on one line."""
    if isinstance(found, str) and found and found[:64].isprintable():
        return f"{where} ({kind} {found[:64]})"
    return where


def iso_seconds(raw: Any) -> float | None:
    """An ISO 8601 time (``2025-11-02T10:00:01.250Z``, UTC when it has no offset) as seconds,
    ``None`` if unreadable."""
    if not isinstance(raw, str) or len(raw) > 40:
        return None
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    # LangSmith writes UTC times without an offset.
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).timestamp()


# -- results recorded by the tools themselves ----------------------------------------------------


@dataclass
class ToolRun:
    """What a tool's own record says it was given and returned."""

    trace_id: str | None
    call_id: str | None
    name: str | None
    #: The arguments, when the record has them as an object.
    arguments: dict[str, Any] | None
    result: str
    #: Where it is in execution order, comparable with its model calls' ``after`` keys.
    order: tuple[Any, ...]
    used: bool = False


def link_results(
    calls: list[ModelCall], orders: list[tuple[Any, ...]], runs: list[ToolRun]
) -> list[ModelCall]:
    """Each tool call's result: from the tool record with its id, else from a later call's
    tool message with its id, else (saying so) from the next unused record of that tool in the
    same trace after the call, with the same arguments, or failing that by name and time."""
    answered: dict[str, str] = {}
    for call in calls:
        for message in call.messages:
            if message.get("role") == "tool" and isinstance(message.get("tool_call_id"), str):
                answered.setdefault(message["tool_call_id"], str(message.get("content") or ""))
    by_id = {run.call_id: run for run in runs if run.call_id is not None}
    known = {record.id for call in calls for record in call.tool_calls}
    for run in runs:
        if run.call_id is not None and run.call_id not in known:
            # An id the calls do not know: only its name and arguments can join it.
            run.call_id = None
    # Per trace and tool, in execution order: joining by name looks at one trace's runs only.
    spare: dict[tuple[str | None, str | None], list[ToolRun]] = {}
    for run in sorted(runs, key=lambda run: run.order):
        if run.call_id is None:
            spare.setdefault((run.trace_id, run.name), []).append(run)
    linked = []
    for call, order in zip(calls, orders, strict=True):
        guesses = list(call.guesses)
        records = []
        for record in call.tool_calls:
            result = record.result
            own = by_id.get(record.id)
            if result is None and own is not None:
                own.used = True
                result = own.result
            if result is None:
                result = answered.get(record.id)
            if result is None:
                bucket = spare.get((call.source.trace_id, record.name), [])
                result, line = _by_name(order, record, bucket)
                if line:
                    guesses.append(line)
            records.append(replace(record, result=result))
        linked.append(
            replace(call, tool_calls=tuple(records), guesses=tuple(dict.fromkeys(guesses)))
        )
    return linked


def _by_name(
    order: tuple[Any, ...], record: ToolCallRecord, runs: list[ToolRun]
) -> tuple[str | None, str | None]:
    """The result of the first unused run (of this tool, in this trace) after the call with
    the same arguments, else of the first after it at all."""
    candidates = [run for run in runs if not run.used and run.order > order]
    for run in candidates:
        if run.arguments is not None and run.arguments == record.arguments:
            run.used = True
            return run.result, (
                f"the result of {record.name} ({record.id}) was joined by tool name and "
                "arguments (the tool's record has no call id, or another)"
            )
    if candidates:
        candidates[0].used = True
        return candidates[0].result, (
            f"the result of {record.name} ({record.id}) was joined by tool name and time "
            "(the tool's record has no call id, or another, and other arguments)"
        )
    return None, None


def answer_text(answer: dict[str, Any]) -> str | None:
    content = answer.get("content")
    if not isinstance(content, str) or (content == "" and answer.get("tool_calls")):
        # LangChain writes "" for an answer that is only tool calls; Chat Completions, null.
        return None
    return content


def result_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
