"""LangSmith runs -> model calls.

Reads runs as LangSmith exports them (``Client.list_runs`` written out, the run JSON the UI and
the API give): a JSON array or JSON Lines of runs, or ``{"runs": [...]}``. A run whose
``run_type`` is ``llm`` is a model call: its ``inputs`` hold the messages (LangChain's
``{"messages": [[...]]}``, serialised or as dicts; or the OpenAI-style ``{"messages": [...]}``
the ``wrap_openai`` wrapper records), its ``outputs`` the answer (``generations``, or a chat
completion), ``extra.invocation_params`` the model, parameters and tools. ``tool`` runs give what
the tools returned. Runs are put in execution order by ``dotted_order``, trace by trace.

Only the fields named here are read: a run's serialised constructor (``serialized``), its
metadata and its events, which may hold keys, are never copied.
"""

from __future__ import annotations

from typing import Any

from incident_evals.json_types import a_json_type
from incident_evals.traces import ModelCall, TraceError, chatlike, parse_arguments
from incident_evals.traces.formats import Document, parsed_value, records

__all__ = ["NAME", "detect", "read"]

NAME = "langsmith"

#: ``extra.metadata`` keys LangChain sets for the model's parameters.
_LS_PARAMS = {"ls_temperature": "temperature", "ls_max_tokens": "max_tokens", "ls_stop": "stop"}


def _is_run(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("run_type"), str)
        and ("inputs" in value or "outputs" in value)
        and any(key in value for key in ("id", "trace_id", "dotted_order"))
    )


def detect(document: Document | Any) -> bool:
    value = parsed_value(document)
    if isinstance(value, dict):
        runs = value.get("runs")
        if isinstance(runs, list):
            return bool(runs) and _is_run(runs[0])
        return _is_run(value)
    return isinstance(value, list) and bool(value) and _is_run(value[0])


def _items(document: Document, file: str) -> list[tuple[str, Any]]:
    value = parsed_value(document)
    if isinstance(value, dict) and isinstance(value.get("runs"), list):
        return [(f"{file}: runs[{n}]", run) for n, run in enumerate(value["runs"])]
    if value is None:
        raise TraceError(f"{file}: not LangSmith runs (not JSON)")
    return list(records(document, file))


def read(document: Document | Any, file: str) -> list[ModelCall]:
    """One call per ``llm`` run, in execution order (``dotted_order``), trace by trace."""
    return chatlike.guarded(_read, document, file, "LangSmith runs")


def _read(document: Document, file: str) -> list[ModelCall]:
    llm: list[chatlike.Item] = []
    tools: list[chatlike.Item] = []
    for position, (where, run) in enumerate(_items(document, file)):
        if not isinstance(run, dict):
            raise TraceError(f"{where}: {a_json_type(run)}, not a run")
        where = chatlike.labelled(where, "run", run.get("id"))
        kind = run.get("run_type")
        if kind == "llm":
            llm.append((where, run, position))
        elif kind == "tool":
            tools.append((where, run, position))
        elif not isinstance(kind, str):
            raise TraceError(f"{where}: no run_type (not a LangSmith run)")
    if not llm:
        raise TraceError(f'{file}: no run with run_type "llm" (no model call) in this file')
    order, unknown = _ordering([run for _, run, _ in llm + tools])
    return chatlike.assemble(
        llm,
        tools,
        order,
        (unknown, "the runs were out of execution order in the file; sorted by dotted_order"),
        lambda run, where, index: _llm_call(run, where, file, index),
        _tool_run,
    )


def _ordering(runs: list[dict[str, Any]]) -> tuple[chatlike.Order, str | None]:
    """How runs are put in execution order: by ``dotted_order`` (which starts with the trace's
    root, so traces stay apart), else by start time trace by trace, else as in the file."""
    if all(isinstance(run.get("dotted_order"), str) for run in runs):
        return (lambda run, position: (run["dotted_order"], position)), None
    timed = chatlike.by_trace_and_time(
        runs,
        lambda run: str(run.get("trace_id")),
        lambda run: chatlike.iso_seconds(run.get("start_time")),
    )
    if timed is not None:
        return timed, "some runs have no dotted_order; ordered by start_time, trace by trace"
    return (
        lambda run, position: (position,)
    ), "some runs have no dotted_order or start_time; kept in file order"


def _llm_call(run: dict[str, Any], where: str, file: str, index: int) -> ModelCall:
    notes = chatlike.Notes(where)
    inputs = notes.decoded(run.get("inputs"), "inputs")
    if not isinstance(inputs, dict):
        raise notes.fail(f"inputs is {a_json_type(inputs)}, not an object")
    extra = _mapping(run.get("extra"))
    invocation = _mapping(extra.get("invocation_params"))
    metadata = _mapping(extra.get("metadata"))
    raw = inputs.get("messages")
    if raw is None and isinstance(inputs.get("prompts"), list) and inputs["prompts"]:
        notes.guess("a completion model's prompt is read as one user message")
        raw = [{"role": "user", "content": str(inputs["prompts"][0])}]
    if raw is None:
        raise notes.fail("inputs hold no messages (nor prompts)")
    if isinstance(raw, list) and raw and all(isinstance(item, list) for item in raw):
        if len(raw) > 1:
            notes.guess(f"a batch of {len(raw)} prompts in one run: the first is read")
        raw = raw[0]
    declared = invocation.get("tools", inputs.get("tools"))
    outputs = notes.decoded(run.get("outputs"), "outputs")
    trace_id, run_id = run.get("trace_id"), run.get("id")
    return chatlike.model_call(
        notes,
        index=index,
        source=chatlike.source(NAME, file, trace_id, run_id),
        model=_model(invocation, metadata, inputs, outputs),
        conversation=(raw, "inputs.messages"),
        tools=notes.tools(declared, "tools") if declared is not None else [],
        answer=_answer(notes, outputs, run.get("error")),
        params=_params(notes, invocation, metadata, inputs),
        start=run.get("start_time"),
    )


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _answer(notes: chatlike.Notes, outputs: Any, error: Any) -> dict[str, Any]:
    if outputs is None:
        first = (
            error.strip().splitlines()[0][:80] if isinstance(error, str) and error.strip() else ""
        )
        said = f": {first}" if first else ""
        notes.guess(f"the run recorded no outputs{said}")
        return {}
    if not isinstance(outputs, dict):
        raise notes.fail(f"outputs is {a_json_type(outputs)}, not an object")
    generations = outputs.get("generations")
    choices = outputs.get("choices")
    if generations is not None:
        if isinstance(generations, list) and generations and isinstance(generations[0], list):
            if len(generations) > 1:
                notes.guess(f"{len(generations)} prompts' generations: the first is read")
            generations = generations[0]
        if not isinstance(generations, list) or not generations:
            raise notes.fail("outputs.generations holds no generation")
        if len(generations) > 1:
            notes.guess(f"{len(generations)} generations: the first is kept")
        first = generations[0]
        if not isinstance(first, dict):
            raise notes.fail(f"outputs.generations[0] is {a_json_type(first)}, not a generation")
        raw = first.get("message")
        if raw is None:
            text = first.get("text")
            return {"content": text if isinstance(text, str) else None}
    elif isinstance(choices, list):
        if not choices or not isinstance(choices[0], dict):
            raise notes.fail("outputs.choices holds no choice")
        if len(choices) > 1:
            notes.guess(f"{len(choices)} choices: the first is kept")
        raw = choices[0].get("message")
    else:
        raise notes.fail("outputs hold neither generations nor choices")
    if not isinstance(raw, dict):
        raise notes.fail("the answer has no message")
    return notes.answer(raw, "the answer")


def _model(
    invocation: dict[str, Any], metadata: dict[str, Any], inputs: dict[str, Any], outputs: Any
) -> str | None:
    llm_output = outputs.get("llm_output") if isinstance(outputs, dict) else None
    found = [
        invocation.get("model"),
        invocation.get("model_name"),
        metadata.get("ls_model_name"),
        inputs.get("model"),
        llm_output.get("model_name") if isinstance(llm_output, dict) else None,
        outputs.get("model") if isinstance(outputs, dict) else None,
    ]
    return next((name for name in found if isinstance(name, str) and name), None)


def _params(
    notes: chatlike.Notes,
    invocation: dict[str, Any],
    metadata: dict[str, Any],
    inputs: dict[str, Any],
) -> dict[str, Any]:
    # wrap_openai records the request's own arguments as the inputs.
    params = notes.params(invocation or inputs, "invocation_params" if invocation else "inputs")
    for key, name in _LS_PARAMS.items():
        value = metadata.get(key)
        if name in params or value is None:
            continue
        if name == "stop":
            params["stop"] = [str(stop) for stop in (value if isinstance(value, list) else [value])]
            continue
        number = notes.number(f"extra.metadata.{key}", value, name == "max_tokens")
        if number is not None:
            params[name] = number
    return params


def _tool_run(run: dict[str, Any], where: str, order: tuple[Any, ...]) -> chatlike.ToolRun | None:
    """What a ``tool`` run says its tool was given and returned."""
    notes = chatlike.Notes(where)
    outputs = notes.decoded(run.get("outputs"), "outputs")
    if not isinstance(outputs, dict) or "output" not in outputs:
        return None
    call_id, output = chatlike.tool_message(outputs["output"])
    inputs = notes.decoded(run.get("inputs"), "inputs")
    arguments: Any = inputs
    if isinstance(inputs, dict) and set(inputs) == {"input"}:
        arguments = inputs["input"]
        if isinstance(arguments, str):
            # LangChain records a tool's input as text: JSON, or Python's repr of a dict.
            arguments = parse_arguments(arguments)[1]
    trace_id = run.get("trace_id")
    name = run.get("name")
    return chatlike.ToolRun(
        trace_id=trace_id if isinstance(trace_id, str) else None,
        call_id=call_id,
        name=name if isinstance(name, str) else None,
        arguments=arguments if isinstance(arguments, dict) else None,
        result=chatlike.result_text(output),
        order=order,
    )
