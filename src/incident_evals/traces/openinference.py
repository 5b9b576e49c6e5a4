"""OpenInference spans (Arize Phoenix and the OpenInference instrumentations) -> model calls.

OpenInference writes a model call as an ``LLM`` span whose attributes flatten lists into indexed
keys (``llm.input_messages.0.message.role``, ``llm.output_messages.0.message.tool_calls.0.
tool_call.function.name``, ``llm.tools.0.tool.json_schema``), in the same OTLP JSON container as
the OpenTelemetry GenAI conventions; ``TOOL`` spans carry what the tools returned.
"""

from __future__ import annotations

from typing import Any

from incident_evals.traces import ModelCall, Source, TraceError, infer_tools, seconds
from incident_evals.traces.formats import parsed_value
from incident_evals.traces.otlp import (
    FAILED,
    Reader,
    Span,
    ToolResult,
    attach_results,
    decode_span,
    dig,
    has_openinference_attributes,
    is_container,
    iter_spans,
    match_results,
    order_spans,
    tool_records,
    tool_result,
    unflatten,
)

__all__ = ["NAME", "detect", "read", "unflatten"]

NAME = "openinference"

#: Invocation parameters a replay sends again, as Chat Completions names them.
_PARAMS = ("temperature", "max_tokens", "top_p", "frequency_penalty", "presence_penalty", "seed")
_INTEGER_PARAMS = frozenset({"max_tokens", "seed"})


class _Span:
    """One LLM span read into a model call."""

    def __init__(self, span: Span) -> None:
        self.span = span
        self.reader = Reader(span)

    def items(self, prefix: str) -> list[Any]:
        found = unflatten(self.span.attributes, prefix)
        if found is None:
            return []
        if isinstance(found, str):
            found = self.reader.json_value(prefix, found)
        if not isinstance(found, list):
            raise self.reader.fail(f"{prefix} is not a list (indices missing?)")
        return found

    def message(self, item: Any, what: str) -> dict[str, Any]:
        """A flattened OpenInference message as a Chat Completions-like message."""
        message = item.get("message", item) if isinstance(item, dict) else None
        if not isinstance(message, dict):
            raise self.reader.fail(f"{what} is not a message")
        role = message.get("role")
        if not isinstance(role, str):
            raise self.reader.fail(f"{what} has no message.role")
        content: Any = message.get("content")
        contents = message.get("contents")
        if content is None and isinstance(contents, list):
            content = [self.part(part, what) for part in contents]
        calls = []
        for n, entry in enumerate(message.get("tool_calls") or []):
            call = dig(entry, "tool_call")
            if not isinstance(call, dict):
                raise self.reader.fail(f"{what}: tool_calls.{n} is not a tool call")
            calls.append(
                {
                    "id": call.get("id"),
                    "function": {
                        "name": dig(call, "function", "name"),
                        "arguments": dig(call, "function", "arguments"),
                    },
                }
            )
        if isinstance(message.get("function_call_name"), str):
            calls.append(
                {
                    "function": {
                        "name": message["function_call_name"],
                        "arguments": message.get("function_call_arguments_json"),
                    }
                }
            )
        return {
            "role": role,
            "content": content,
            "tool_calls": calls,
            "tool_call_id": message.get("tool_call_id"),
        }

    def part(self, part: Any, what: str) -> dict[str, Any]:
        content = dig(part, "message_content")
        if not isinstance(content, dict):
            raise self.reader.fail(f"{what}: a message.contents entry has no message_content")
        kind = content.get("type", "text" if "text" in content else "unknown")
        return {"type": kind, "content": content.get("text")}

    def conversation(self) -> tuple[str | None, list[dict[str, Any]]]:
        system: list[str] = []
        messages: list[dict[str, Any]] = []
        for n, item in enumerate(self.items("llm.input_messages")):
            what = f"llm.input_messages.{n}"
            message = self.message(item, what)
            for converted in self.reader.chat_message(message["role"], message, what):
                if converted["role"] == "system" and not messages:
                    system.append(converted.get("content") or "")
                else:
                    messages.append(converted)
        return ("\n".join(filter(None, system)) or None), messages

    def answer(self) -> dict[str, Any] | None:
        outputs = self.items("llm.output_messages")
        if len(outputs) > 1:
            self.reader.guess(f"{len(outputs)} output messages (choices); kept the first")
        if not outputs:
            return None
        message = self.message(outputs[0], "llm.output_messages.0")
        return self.reader.chat_message("assistant", message, "llm.output_messages.0")[0]

    def tools(self) -> list[dict[str, Any]]:
        tools = []
        for n, item in enumerate(self.items("llm.tools")):
            tool = dig(item, "tool")
            what = f"llm.tools.{n}"
            if not isinstance(tool, dict):
                raise self.reader.fail(f"{what} is not a tool")
            schema = tool.get("json_schema")
            if isinstance(schema, str):
                schema = self.reader.json_value(f"{what}.tool.json_schema", schema)
            if schema is None:
                schema = {
                    "name": tool.get("name"),
                    "description": tool.get("description"),
                    "parameters": tool.get("parameters"),
                }
            tools.append(schema)
        return self.reader.tools(tools, "llm.tools") if tools else []

    def params(self) -> dict[str, Any]:
        decoded = self.invocation_parameters()
        found: dict[str, Any] = {}
        for name in _PARAMS:
            if decoded.get(name) is not None:
                found[name] = self.reader.number(
                    f"llm.invocation_parameters.{name}", decoded[name], name in _INTEGER_PARAMS
                )
        if "max_tokens" not in found and decoded.get("max_completion_tokens") is not None:
            found["max_tokens"] = self.reader.number(
                "llm.invocation_parameters.max_completion_tokens",
                decoded["max_completion_tokens"],
                True,
            )
        stop = decoded.get("stop")
        if stop is not None:
            found["stop"] = stop if isinstance(stop, list) else [stop]
        return found

    def model(self) -> str | None:
        """The model asked for: the request's, which the OpenAI instrumentation writes only in
        ``llm.invocation_parameters`` (its ``llm.model_name`` is the one the response named)."""
        requested = self.span.attributes.get("llm.request.model_name")
        if not (isinstance(requested, str) and requested):
            requested = self.invocation_parameters().get("model")
        if isinstance(requested, str) and requested:
            return requested
        for key in ("llm.model_name", "llm.response.model_name"):
            value = self.span.attributes.get(key)
            if isinstance(value, str) and value:
                return value
        return None

    def invocation_parameters(self) -> dict[str, Any]:
        raw = self.span.attributes.get("llm.invocation_parameters")
        if raw is None:
            return {}
        decoded = self.reader.json_value("llm.invocation_parameters", raw)
        if not isinstance(decoded, dict):
            raise self.reader.fail("llm.invocation_parameters is not a JSON object")
        return decoded

    def call(self, file: str, index: int) -> ModelCall:
        system, messages = self.conversation()
        answer = self.answer()
        calls = tool_records(answer.get("tool_calls", []) if answer else [])
        messages = match_results(messages, self.reader.guess)
        tools = self.tools()
        if not tools:
            tools, inferred = infer_tools(messages, calls)
            if inferred:
                self.reader.guess(inferred)
        span = self.span
        return ModelCall(
            index=index,
            source=Source(format=NAME, file=file, trace_id=span.trace_id, span_id=span.span_id),
            model=self.model(),
            system=system,
            messages=tuple(messages),
            tools=tuple(tools),
            tool_calls=tuple(calls),
            output=answer.get("content") if answer else None,
            params=self.params(),
            time=seconds(span.start, per_second=1_000_000_000),
        )


def _tool_result(span: Span) -> ToolResult | None:
    """What a ``TOOL`` span says its tool returned."""
    attributes = span.attributes
    result = attributes.get("output.value")
    if result is None:
        return None
    call_id = attributes.get("tool_call.id", attributes.get("tool.id"))
    name = attributes.get("tool.name", attributes.get("tool_call.function.name"))
    return tool_result(span, result, call_id, name)


def detect(document: Any) -> bool:
    """OTLP JSON whose spans carry OpenInference attributes."""
    document = parsed_value(document)
    return is_container(document) and has_openinference_attributes(document)


def read(document: Any, file: str) -> list[ModelCall]:
    """The model calls of an OpenInference trace: one per ``LLM`` span, in start-time order."""
    document = parsed_value(document)
    if not is_container(document):
        raise TraceError(f"{file}: not OTLP JSON (no resourceSpans)")
    try:
        llm: list[Span] = []
        results: list[ToolResult] = []
        for position, (raw, where) in enumerate(iter_spans(document, file)):
            span = decode_span(raw, where, position)
            kind = span.attributes.get("openinference.span.kind")
            if kind == "LLM" or (
                kind is None
                and any(key.startswith("llm.input_messages") for key in span.attributes)
            ):
                llm.append(span)
            elif kind == "TOOL":
                result = _tool_result(span)
                if result is not None:
                    results.append(result)
        if not llm:
            raise TraceError(f"{file}: no OpenInference LLM span in this file")
        ordered, order_guess = order_spans(llm)
        calls: list[ModelCall] = []
        readers: list[Reader] = []
        for index, span in enumerate(ordered):
            reading = _Span(span)
            calls.append(reading.call(file, index))
            if order_guess:
                reading.reader.guess(order_guess)
            if span.attributes.get("openinference.span.kind") is None:
                reading.reader.guess("the span has no openinference.span.kind; read as an LLM span")
            if span.failed:
                reading.reader.guess(FAILED)
            readers.append(reading.reader)
        return attach_results(calls, readers, results)
    except RecursionError:
        raise TraceError(f"{file}: the OTLP JSON is nested too deeply") from None
