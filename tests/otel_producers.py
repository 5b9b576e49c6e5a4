"""OTLP JSON written by the real OpenTelemetry producers around the real openai SDK.

Each scenario runs the openai SDK against the scripted test server (``tests/chat_server.py``)
under one instrumentation, with a tracer provider (and logger provider) of its own, whose
in-memory exporters collect what the instrumentation emitted; the instrumentation is removed
afterwards. What they collected is written as the OpenTelemetry Collector's ``file`` exporter
writes it: each export request as one line of OTLP/JSON.

Scenarios: a tool loop (plain and streamed), parallel tool calls, a plain answer with request
parameters, content given as parts, and a call the endpoint fails.

Producers:

- ``opentelemetry-instrumentation-openai-v2`` in its current form (``OTEL_SEMCONV_STABILITY_OPT_IN
  =gen_ai_latest_experimental``): the messages as span attributes (``SPAN_ONLY``), or in one
  ``gen_ai.client.inference.operation.details`` log record per call (``EVENT_ONLY``), or both;
- the same instrumentation's older (semantic conventions 1.30) form: one log record per message
  (``gen_ai.user.message``, ..., ``gen_ai.choice``), with ``..._CAPTURE_MESSAGE_CONTENT=true``;
- ``openinference-instrumentation-openai``: flattened ``llm.*`` span attributes (and, with
  ``OPENINFERENCE_ENABLE_GENAI_SEMCONV``, the GenAI conventions' attributes beside them).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import openai
from google.protobuf import json_format  # type: ignore[import-untyped]
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from chat_server import ChatServer, Reply

__all__ = [
    "ANSWER",
    "ASK",
    "GROUPS",
    "MODES",
    "SYSTEM",
    "TOOLS",
    "Mode",
    "Produced",
    "Scenario",
    "content_parts",
    "failed_call",
    "otlp_json",
    "parallel_tools",
    "plain_answer",
    "produce",
    "spans_of",
    "streamed_tool_loop",
    "tool_loop",
]

#: How the instrumentation was set up: the producer, and how it captured message content.
Mode = Literal[
    "otel-span",  # openai-v2, latest conventions, content in span attributes
    "otel-event",  # openai-v2, latest conventions, content in an operation-details log record
    "otel-span-and-event",  # both at once
    "otel-legacy",  # openai-v2, conventions 1.30: one log record per message
    "openinference",
    "openinference-genai",  # OpenInference writing the GenAI conventions' attributes as well
]
MODES: tuple[Mode, ...] = (
    "otel-span",
    "otel-event",
    "otel-span-and-event",
    "otel-legacy",
    "openinference",
    "openinference-genai",
)

#: The settings each openai-v2 mode runs with, as a deployment would set them.
_ENVIRONMENT: dict[Mode, dict[str, str]] = {
    "otel-span": {
        "OTEL_SEMCONV_STABILITY_OPT_IN": "gen_ai_latest_experimental",
        "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "SPAN_ONLY",
    },
    "otel-event": {
        "OTEL_SEMCONV_STABILITY_OPT_IN": "gen_ai_latest_experimental",
        "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "EVENT_ONLY",
    },
    "otel-span-and-event": {
        "OTEL_SEMCONV_STABILITY_OPT_IN": "gen_ai_latest_experimental",
        "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "SPAN_AND_EVENT",
    },
    "otel-legacy": {"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "true"},
    "openinference": {},
    "openinference-genai": {"OPENINFERENCE_ENABLE_GENAI_SEMCONV": "true"},
}
_VARIABLES = (
    "OTEL_SEMCONV_STABILITY_OPT_IN",
    "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT",
    "OTEL_INSTRUMENTATION_GENAI_EMIT_EVENT",
    "OTEL_INSTRUMENTATION_GENAI_COMPLETION_HOOK",
    "OPENINFERENCE_HIDE_INPUTS",
    "OPENINFERENCE_HIDE_OUTPUTS",
    "OPENINFERENCE_HIDE_INPUT_MESSAGES",
    "OPENINFERENCE_HIDE_OUTPUT_MESSAGES",
    "OPENINFERENCE_HIDE_LLM_TOOLS",
    "OPENINFERENCE_HIDE_LLM_INVOCATION_PARAMETERS",
    "OPENINFERENCE_ENABLE_GENAI_SEMCONV",
)

SYSTEM = "You are MailPilot. Resolve group names with lookup_group before sending."
ASK = "Who is on the finance team?"
GROUPS = '[{"address": "finance@acme.example", "members": 4}]'
TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": "lookup_group",
            "description": "Find mail groups by name",
            "parameters": {
                "type": "object",
                "properties": {"name": {"type": "string"}},
                "required": ["name"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "send_email",
            "description": "Send an email",
            "parameters": {"type": "object", "properties": {"to": {"type": "string"}}},
        },
    },
]
LOOKUP_ARGUMENTS = '{"name": "finance"}'
ANSWER = "The finance team is finance@acme.example (4 members)."


@dataclass(frozen=True)
class Produced:
    """What one instrumented run emitted, as OTLP export requests (OTLP/JSON objects)."""

    traces: dict[str, Any]
    logs: dict[str, Any] | None

    def write(self, path: Path) -> Path:
        """The file a collector's ``file`` exporter writes: one export request a line (the
        traces, then the logs when there are any)."""
        lines = [self.traces] + ([self.logs] if self.logs else [])
        path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
        return path


def _loop_opening(server: ChatServer) -> list[Any]:
    """The tool loop's script (a tool call, then the answer) and its first messages."""
    server.set_script(
        [
            Reply(
                tool_calls=[
                    {"id": "call_lookup_1", "name": "lookup_group", "arguments": LOOKUP_ARGUMENTS}
                ]
            ),
            Reply(content=ANSWER),
        ]
    )
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": ASK}]


def tool_loop(client: openai.OpenAI, server: ChatServer) -> None:
    """The model asks for a tool, the application runs it and sends the result back, and the
    model answers from it: two calls."""
    messages = _loop_opening(server)
    first = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=messages,
        tools=TOOLS,
        temperature=0.2,
    )
    asked = first.choices[0].message
    assert asked.tool_calls, "the scripted server did not ask for the tool"
    messages.append(asked.model_dump(exclude_none=True))
    messages.extend(
        {"role": "tool", "tool_call_id": call.id, "content": GROUPS} for call in asked.tool_calls
    )
    client.chat.completions.create(
        model="gpt-4o-mini",
        messages=messages,
        tools=TOOLS,
        temperature=0.2,
    )


def streamed_tool_loop(client: openai.OpenAI, server: ChatServer) -> None:
    """The tool loop with both answers streamed (``stream=True``): the application puts the
    tool call together from the chunks' fragments, as SDK users do."""
    messages = _loop_opening(server)
    fragments: dict[int, dict[str, str]] = {}
    for chunk in client.chat.completions.create(
        model="gpt-4o-mini", messages=messages, tools=TOOLS, temperature=0.2, stream=True
    ):
        for choice in chunk.choices:
            for delta in choice.delta.tool_calls or ():
                found = fragments.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
                found["id"] += delta.id or ""
                if delta.function is not None:
                    found["name"] += delta.function.name or ""
                    found["arguments"] += delta.function.arguments or ""
    assert fragments, "the scripted server did not stream a tool call"
    calls = [
        {
            "id": f["id"],
            "type": "function",
            "function": {"name": f["name"], "arguments": f["arguments"]},
        }
        for f in fragments.values()
    ]
    messages.append({"role": "assistant", "content": None, "tool_calls": calls})
    messages.extend(
        {"role": "tool", "tool_call_id": call["id"], "content": GROUPS} for call in calls
    )
    text = "".join(
        choice.delta.content or ""
        for chunk in client.chat.completions.create(
            model="gpt-4o-mini", messages=messages, tools=TOOLS, temperature=0.2, stream=True
        )
        for choice in chunk.choices
    )
    assert text == ANSWER, text
    assert all(request.streamed for request in server.requests[-2:]), "not streamed"


def parallel_tools(client: openai.OpenAI, server: ChatServer) -> None:
    """The model asks for two tool calls at once; both results go back in one request."""
    server.set_script(
        [
            Reply(
                tool_calls=[
                    {"id": "call_a", "name": "lookup_group", "arguments": '{"name": "finance"}'},
                    {"id": "call_b", "name": "lookup_group", "arguments": '{"name": "legal"}'},
                ]
            ),
            Reply(content=ANSWER),
        ]
    )
    messages: list[Any] = [{"role": "user", "content": ASK}]
    first = client.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=TOOLS)
    asked = first.choices[0].message
    messages.append(asked.model_dump(exclude_none=True))
    messages.extend(
        {"role": "tool", "tool_call_id": call.id, "content": f"members of {call.id}"}
        for call in asked.tool_calls or ()
    )
    client.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=TOOLS)


def plain_answer(client: openai.OpenAI, server: ChatServer) -> None:
    """One call answered with text, with the request parameters a replay sends again."""
    server.set_script([Reply(content=ANSWER)])
    client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": ASK}],
        temperature=0.5,
        top_p=0.9,
        max_tokens=200,
        seed=7,
        stop=["END"],
    )


def content_parts(client: openai.OpenAI, server: ChatServer) -> None:
    """A call whose system and user content are lists of parts (text, and an image)."""
    server.set_script([Reply(content=ANSWER)])
    client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[
            {"role": "system", "content": [{"type": "text", "text": SYSTEM}]},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": ASK},
                    {"type": "image_url", "image_url": {"url": "https://img.example/team.png"}},
                ],
            },
        ],
    )


def failed_call(client: openai.OpenAI, server: ChatServer) -> None:
    """A call the endpoint answers with an error: the SDK raises, the span records the error."""
    server.set_script([Reply(status=500, error_message="upstream failed")])
    with contextlib.suppress(openai.InternalServerError):
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": ASK}]
        )


Scenario = Callable[[openai.OpenAI, ChatServer], None]


def produce(mode: Mode, scenario: Scenario, server: ChatServer) -> Produced:
    """Run ``scenario`` under the instrumentation ``mode`` names and give what it emitted."""
    spans = InMemorySpanExporter()
    records = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]
    resource = Resource.create({"service.name": "mailpilot"})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(records))
    client = openai.OpenAI(base_url=server.base_url, api_key="sk-test-unused", max_retries=0)
    try:
        with (
            _environment(_ENVIRONMENT[mode]),
            _instrumented(mode, tracer_provider, logger_provider),
        ):
            scenario(client, server)
    finally:
        client.close()
    tracer_provider.force_flush()
    logger_provider.force_flush()
    finished = spans.get_finished_spans()
    emitted = records.get_finished_logs()
    tracer_provider.shutdown()
    logger_provider.shutdown()
    return Produced(
        traces=otlp_json(encode_spans(finished)),
        logs=otlp_json(encode_logs(emitted)) if emitted else None,
    )


@contextlib.contextmanager
def _instrumented(
    mode: Mode, tracer_provider: TracerProvider, logger_provider: LoggerProvider
) -> Iterator[None]:
    """The instrumentation on the SDK for the ``with`` body, on providers of the caller's own
    (the instrumentors are process-wide singletons: each run installs and removes it)."""
    if mode.startswith("openinference"):
        from openinference.instrumentation.openai import OpenAIInstrumentor as OpenInference

        instrumentor: Any = OpenInference()
        instrumentor.instrument(tracer_provider=tracer_provider)
        try:
            yield
        finally:
            instrumentor.uninstrument()
        return
    import opentelemetry.instrumentation.openai_v2 as openai_v2

    gate = getattr(openai_v2, "is_experimental_mode")  # noqa: B009 (not re-exported: mypy)
    if mode == "otel-legacy":
        # The installed opentelemetry-util-genai always reports the latest conventions, so the
        # instrumentation's own 1.30 code path (what releases before it wrote by default) is
        # chosen here by its own switch; the SDK is left as it is.
        setattr(openai_v2, "is_experimental_mode", lambda: False)  # noqa: B010
    instrumentor = openai_v2.OpenAIInstrumentor()  # type: ignore[no-untyped-call]
    try:
        instrumentor.instrument(tracer_provider=tracer_provider, logger_provider=logger_provider)
    finally:
        setattr(openai_v2, "is_experimental_mode", gate)  # noqa: B010
    try:
        yield
    finally:
        instrumentor.uninstrument()


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """The instrumentation settings for the ``with`` body only (they are read from the
    environment, some when instrumenting and some on each call)."""
    saved = {name: os.environ.get(name) for name in _VARIABLES}
    for name in _VARIABLES:
        os.environ.pop(name, None)
    os.environ.update(values)
    try:
        yield
    finally:
        for name, before in saved.items():
            if before is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = before


# -- OTLP/JSON -------------------------------------------------------------------------------------

#: The fields that OTLP/JSON writes as hex rather than protobuf JSON's base64.
_HEX_FIELDS = frozenset({"traceId", "spanId", "parentSpanId"})


def otlp_json(request: Any) -> dict[str, Any]:
    """An OTLP export request (protobuf) as OTLP/JSON, following the OTLP specification's
    "JSON Protobuf Encoding" rules, which differ from protobuf's own JSON mapping in places:

    - field names are lowerCamelCase (protobuf JSON's default; not the proto's snake_case);
    - enum values are integers, not their names (``"kind": 3``);
    - ``traceId``, ``spanId`` and ``parentSpanId`` are lowercase hex, not base64 (other bytes
      fields, such as ``bytesValue``, stay base64);
    - 64-bit integers (``intValue``, ``*UnixNano``) are decimal strings, as protobuf JSON writes
      them;
    - fields at their default value are left out, which the specification allows.
    """
    as_dict = json_format.MessageToDict(
        request, preserving_proto_field_name=False, use_integers_for_enums=True
    )
    converted: dict[str, Any] = _hex_ids(as_dict)
    return converted


def _hex_ids(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            key: (
                base64.b64decode(value).hex()
                if key in _HEX_FIELDS and isinstance(value, str)
                else _hex_ids(value)
            )
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_hex_ids(item) for item in node]
    return node


def spans_of(produced: Produced) -> Sequence[dict[str, Any]]:
    """The spans of a run's traces (in the order exported)."""
    return [
        span
        for resource in produced.traces.get("resourceSpans", ())
        for scope in resource.get("scopeSpans", ())
        for span in scope.get("spans", ())
    ]
