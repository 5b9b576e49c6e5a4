"""Langfuse exports -> model calls.

Reads what Langfuse gives out: a trace with its observations (``GET /api/public/traces/{id}``,
or the JSON the UI downloads), a page of observations (``GET /api/public/observations``:
``{"data": [...], "meta": {...}}``), and a JSON array or JSON Lines of observations (blob-storage
exports). Each ``GENERATION`` observation is a model call: its ``input`` the messages (or
``{"messages", "tools"}`` as the OpenAI and LangChain integrations write it), its ``output`` the
answer, with ``model`` and ``modelParameters``. ``TOOL`` observations give what the tools
returned; spans, events, agents, chains and the other kinds are not model calls.

Field names are read in the API's camelCase and in the snake_case of the exports; ``metadata``
is read only for a tool call's id (it may hold anything, keys included).
"""

from __future__ import annotations

from typing import Any

from incident_evals.json_types import a_json_type
from incident_evals.traces import ModelCall, TraceError, chatlike, parse_arguments
from incident_evals.traces.formats import Document, parsed_value, records

__all__ = ["NAME", "detect", "read"]

NAME = "langfuse"

#: The observation types Langfuse knows (only generations and tools are read).
_TYPES = frozenset(
    {
        "GENERATION",
        "SPAN",
        "EVENT",
        "AGENT",
        "TOOL",
        "CHAIN",
        "RETRIEVER",
        "EVALUATOR",
        "EMBEDDING",
        "GUARDRAIL",
    }
)
_MARKERS = ("traceId", "trace_id", "startTime", "start_time", "parentObservationId")


def _get(record: dict[str, Any], camel: str) -> Any:
    """A field by its API name, or the snake_case name the exports use."""
    if camel in record:
        return record[camel]
    return record.get("".join("_" + c.lower() if c.isupper() else c for c in camel))


def _is_observation(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("type"), str)
        and value["type"] in _TYPES
        and any(key in value for key in _MARKERS)
    )


def _is_trace(value: Any) -> bool:
    if not isinstance(value, dict) or "id" not in value:
        return False
    observations = value.get("observations")
    return isinstance(observations, list) and (
        _is_observation(observations[0]) if observations else "timestamp" in value
    )


# --------------------------------------------------------------------------------------------
# Detection
# --------------------------------------------------------------------------------------------


def detect(document: Document | Any) -> bool:
    value = parsed_value(document)
    if isinstance(value, dict):
        data = value.get("data")
        if isinstance(data, list) and data:
            return _is_observation(data[0])
        return _is_trace(value) or _is_observation(value)
    return isinstance(value, list) and bool(value) and _is_observation(value[0])


def _items(document: Document, file: str) -> tuple[list[tuple[str, Any]], str | None]:
    """The observations with where each is, and the trace id a trace export gives them all."""
    value = parsed_value(document)
    if isinstance(value, dict):
        if _is_trace(value):
            trace_id = value["id"] if isinstance(value["id"], str) else None
            found = [
                (f"{file}: observations[{n}]", obs) for n, obs in enumerate(value["observations"])
            ]
            return found, trace_id
        if isinstance(value.get("data"), list):
            return [(f"{file}: data[{n}]", obs) for n, obs in enumerate(value["data"])], None
        if _is_observation(value):
            return [(file, value)], None
        raise TraceError(
            f"{file}: not a Langfuse export (no observations, data page or observation list)"
        )
    if isinstance(value, list):
        return list(records(document, file)), None
    raise TraceError(f"{file}: not a Langfuse export (not JSON)")


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


def read(document: Document | Any, file: str) -> list[ModelCall]:
    """One call per ``GENERATION`` observation, in ``startTime`` order, trace by trace."""
    return chatlike.guarded(_read, document, file, "Langfuse export")


def _read(document: Document, file: str) -> list[ModelCall]:
    items, trace_default = _items(document, file)
    generations: list[chatlike.Item] = []
    tools: list[chatlike.Item] = []
    for position, (where, observation) in enumerate(items):
        if not isinstance(observation, dict):
            raise TraceError(f"{where}: {a_json_type(observation)}, not an observation")
        where = chatlike.labelled(where, "observation", observation.get("id"))
        kind = observation.get("type")
        if kind == "GENERATION":
            generations.append((where, observation, position))
        elif kind == "TOOL":
            tools.append((where, observation, position))
    if not generations:
        raise TraceError(f"{file}: no GENERATION observation (no model call) in this export")

    def trace_of(observation: dict[str, Any]) -> str:
        found = _get(observation, "traceId")
        return found if isinstance(found, str) else (trace_default or "")

    timed = chatlike.by_trace_and_time(
        [observation for _, observation, _ in generations + tools],
        trace_of,
        lambda observation: chatlike.iso_seconds(_get(observation, "startTime")),
    )
    return chatlike.assemble(
        generations,
        tools,
        timed or (lambda observation, position: (position,)),
        (
            None if timed else "some observations have no readable startTime; kept in file order",
            "the generations were out of time order in the file; sorted by startTime",
        ),
        lambda observation, where, index: _generation(
            observation, where, file, index, trace_of(observation)
        ),
        lambda observation, where, order: _tool_run(
            observation, where, trace_of(observation), order
        ),
    )


def _generation(
    observation: dict[str, Any], where: str, file: str, index: int, trace_id: str | None
) -> ModelCall:
    notes = chatlike.Notes(where)
    raw = notes.decoded(observation.get("input"), "input")
    key = "input"
    tools: list[dict[str, Any]] = []
    if isinstance(raw, dict) and "messages" in raw:
        declared = raw.get("tools")
        if declared is None and raw.get("functions") is not None:
            notes.guess("legacy functions are taken as tool definitions")
            declared = raw["functions"]
        if declared is not None:
            tools = notes.tools(declared, "input.tools")
        raw = notes.decoded(raw["messages"], "input.messages")
        key = "input.messages"
    elif isinstance(raw, dict) and ("role" in raw or "lc" in raw):
        raw = [raw]
    elif isinstance(raw, str):
        notes.guess("the input is text, not messages: read as one user message")
        raw = [{"role": "user", "content": raw}]
    elif raw is None:
        raise notes.fail("the generation has no input")
    elif not isinstance(raw, list):
        raise notes.fail(f"input is {a_json_type(raw)}, not messages")
    return chatlike.model_call(
        notes,
        index=index,
        source=chatlike.source(NAME, file, trace_id, observation.get("id")),
        model=_get(observation, "model") or _get(observation, "providedModelName"),
        conversation=(raw, key),
        tools=tools,
        answer=_answer(notes, observation.get("output")),
        params=notes.params(_get(observation, "modelParameters"), "modelParameters"),
        start=_get(observation, "startTime"),
    )


def _answer(notes: chatlike.Notes, raw: Any) -> dict[str, Any]:
    """The generation's output as an assistant message: a message, text, a choices-like
    object, or a list of messages."""
    raw = notes.decoded(raw, "output")
    if raw is None:
        notes.guess("the generation recorded no output")
        return {}
    if isinstance(raw, str):
        return {"content": raw}
    if isinstance(raw, dict) and isinstance(raw.get("choices"), list):
        choices = raw["choices"]
        if not choices or not isinstance(choices[0], dict):
            raise notes.fail("output has no choices")
        if len(choices) > 1:
            notes.guess(f"{len(choices)} choices in the output: the first is kept")
        raw = choices[0].get("message", choices[0])
    if isinstance(raw, list):
        if raw and all(isinstance(item, dict) and ("role" in item or "lc" in item) for item in raw):
            if len(raw) > 1:
                notes.guess(f"{len(raw)} messages in the output: the last is kept")
            raw = raw[-1]
        else:
            return {"content": notes.text(raw, "output")}
    if not isinstance(raw, dict):
        raise notes.fail(f"output is {a_json_type(raw)}, not an answer")
    if "role" not in raw and "lc" not in raw and "type" not in raw:
        # LangChain's handler records a tool-calling answer as its additional_kwargs alone.
        raw = {**raw, "role": "assistant"}
    return notes.answer(raw, "output")


def _tool_run(
    observation: dict[str, Any], where: str, trace_id: str, order: tuple[Any, ...]
) -> chatlike.ToolRun | None:
    """What a ``TOOL`` observation says its tool was given and returned."""
    notes = chatlike.Notes(where)
    output = notes.decoded(observation.get("output"), "output")
    if output is None:
        return None
    call_id, output = chatlike.tool_message(output)
    metadata = notes.decoded(observation.get("metadata"), "metadata")
    if call_id is None and isinstance(metadata, dict):
        found = metadata.get("tool_call_id")
        call_id = found if isinstance(found, str) and found else None
    arguments = notes.decoded(observation.get("input"), "input")
    if isinstance(arguments, dict) and set(arguments) <= {"args", "kwargs"}:
        # The Python SDK's @observe records a function's input as its args and kwargs.
        arguments = arguments.get("kwargs")
    if isinstance(arguments, str):
        arguments = parse_arguments(arguments)[1]
    name = observation.get("name")
    return chatlike.ToolRun(
        trace_id=trace_id or None,
        call_id=call_id,
        name=name if isinstance(name, str) else None,
        arguments=arguments if isinstance(arguments, dict) else None,
        result=chatlike.result_text(output),
        order=order,
    )
