"""Inspect AI eval logs (format ``inspect``) -> model calls.

Both log formats Inspect writes: ``.eval`` (a zip archive: ``header.json``, one
``samples/<id>_epoch_<n>.json`` per sample; the default) and ``.json`` (one ``EvalLog``
document). Read as data: the Inspect package is not needed.

A model call is a sample's ``model`` event: its input messages (inline, or as ``input_refs``
ranges into the sample's pool of messages, ``events_data.messages``), its tools, tool choice and
generate config, and the first choice of its output. Samples are read in the dataset's order,
then by epoch; events in the order the log lists them. A sample without model events makes one
call from its ``messages`` and ``output``. Text Inspect moved out of line
(``attachment://<hash>``) is put back from the sample's ``attachments``.

Each call's source names the sample: ``trace_id`` is ``<eval_id>/<sample id>/<epoch>`` and
``span_id`` the model event's ``uuid``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from incident_evals.json_types import a_json_type
from incident_evals.traces import ModelCall, Source, ToolCallRecord, TraceError, parse_arguments
from incident_evals.traces.formats import Document, json_value, names, text_of

__all__ = ["NAME", "detect", "read"]

NAME = "inspect"

#: Where an Inspect log keeps long text (``tc://`` is the older spelling).
ATTACHMENT = "attachment://"
_OLD_ATTACHMENT = "tc://"
#: GenerateConfig fields -> Chat Completions request parameters.
_PARAMS = {
    "temperature": "temperature",
    "top_p": "top_p",
    "max_tokens": "max_tokens",
    "seed": "seed",
    "stop_seqs": "stop",
    "frequency_penalty": "frequency_penalty",
    "presence_penalty": "presence_penalty",
}
#: More input messages than this in one model event, or in all the calls of a log, is refused:
#: ``input_refs`` ranges can name the pool again and again, at no cost in the file.
MAX_INPUT_MESSAGES = 100_000
MAX_ALL_INPUT_MESSAGES = 10_000_000


# --------------------------------------------------------------------------------------------
# Detection
# --------------------------------------------------------------------------------------------


def detect(document: Document) -> bool:
    if document.kind == "zip":
        return "header.json" in document.value or "_journal/start.json" in document.value
    return document.kind == "json" and _is_log(document.value)


def _is_log(value: Any) -> bool:
    spec = value.get("eval") if isinstance(value, dict) else None
    return isinstance(spec, dict) and "task" in spec and "model" in spec and "status" in value


# --------------------------------------------------------------------------------------------
# Reading the log
# --------------------------------------------------------------------------------------------


def read(document: Document, file: str) -> list[ModelCall]:
    try:
        if document.kind == "zip":
            spec, samples = _archive(document.value, file)
        elif document.kind == "json" and _is_log(document.value):
            spec, samples = _log(document.value, file)
        else:
            raise TraceError(f"{file}: not an Inspect AI log (no eval header)")
        eval_id = spec.get("eval_id") or spec.get("run_id")
        calls: list[ModelCall] = []
        budget = _Budget(MAX_ALL_INPUT_MESSAGES)
        for where, sample in _ordered(samples, spec):
            calls.extend(_Sample(sample, where, file, eval_id, budget).calls())
    except RecursionError:
        raise TraceError(f"{file}: the log is nested too deeply") from None
    if not calls:
        raise TraceError(f"{file}: no model calls in this log")
    return calls


def _log(value: dict[str, Any], file: str) -> tuple[dict[str, Any], list[tuple[str, Any]]]:
    samples = value.get("samples")
    if samples is None:
        raise TraceError(f"{file}: the log has no samples (was it written without them?)")
    if not isinstance(samples, list):
        raise TraceError(f'{file}: "samples" is {a_json_type(samples)}, not a list')
    return value["eval"], [(f"{file}: sample #{n}", sample) for n, sample in enumerate(samples)]


def _archive(members: dict[str, bytes], file: str) -> tuple[dict[str, Any], list[tuple[str, Any]]]:
    name = "header.json" if "header.json" in members else "_journal/start.json"
    header = _member_json(members, name, file)
    spec = header.get("eval") if isinstance(header, dict) else None
    if not isinstance(spec, dict):
        raise TraceError(f"{file}: {name} has no eval object")
    samples: list[tuple[str, Any]] = []
    for member in members:
        if not member.startswith("samples/"):
            continue
        if member.count("/") > 1:
            raise TraceError(
                f"{file}: {member}: chunked samples are not read "
                "(write the log without chunking, or convert it to .json)"
            )
        if member.endswith(".json"):
            samples.append((f"{file}: {member}", _member_json(members, member, file)))
    if not samples:
        raise TraceError(f"{file}: the log has no samples (was it written without them?)")
    return spec, samples


def _member_json(members: dict[str, bytes], name: str, file: str) -> Any:
    where = f"{file}: {name}"
    try:
        text = members[name].decode("utf-8")
    except UnicodeDecodeError:
        raise TraceError(f"{where}: not UTF-8") from None
    return json_value(text, where)


def _ordered(samples: list[tuple[str, Any]], spec: dict[str, Any]) -> list[tuple[str, Any]]:
    """Samples in the dataset's order, then by epoch (an ``.eval`` archive holds them in the
    order they finished)."""
    dataset = spec.get("dataset")
    ids = dataset.get("sample_ids") if isinstance(dataset, dict) else None
    order = {str(sample_id): n for n, sample_id in enumerate(ids or ()) if sample_id is not None}

    def key(item: tuple[str, Any]) -> tuple[int, int]:
        sample = item[1]
        if not isinstance(sample, dict):
            return (len(order), 0)
        epoch = sample.get("epoch")
        return (
            order.get(str(sample.get("id")), len(order)),
            epoch if isinstance(epoch, int) and not isinstance(epoch, bool) else 0,
        )

    return sorted(samples, key=key)


# --------------------------------------------------------------------------------------------
# One sample
# --------------------------------------------------------------------------------------------


@dataclass
class _Budget:
    """How many more input messages the calls of a log may hold."""

    left: int

    def spend(self, count: int, where: str) -> None:
        self.left -= count
        if self.left < 0:
            raise TraceError(
                f"{where}: more than {MAX_ALL_INPUT_MESSAGES} input messages in all the calls"
            )


@dataclass(frozen=True)
class _Message:
    """An input message read: its Chat form (``None`` for a system message), its text, the
    kinds of its parts that were dropped, and what reading it guessed."""

    raw: Any
    chat: dict[str, Any] | None
    text: str | None
    dropped: tuple[str, ...]
    guesses: tuple[str, ...]


@dataclass
class _Sample:
    raw: Any
    where: str
    file: str
    eval_id: Any
    budget: _Budget

    def __post_init__(self) -> None:
        if not isinstance(self.raw, dict):
            raise TraceError(f"{self.where}: {a_json_type(self.raw)}, not a sample object")
        sample_id, epoch = self.raw.get("id"), self.raw.get("epoch")
        self.where = f"{self.where} (sample {_short(sample_id)}, epoch {_short(epoch)})"
        attachments = self.raw.get("attachments") or {}
        if not isinstance(attachments, dict):
            raise TraceError(f'{self.where}: "attachments" is {a_json_type(attachments)}')
        self.attachments: dict[str, Any] = attachments
        self.trace_id = "/".join(
            str(part) for part in (self.eval_id, sample_id, epoch) if part is not None
        )
        pool = self.raw.get("events_data")
        pool = pool.get("messages") if isinstance(pool, dict) else None
        self.pool: list[Any] = pool if isinstance(pool, list) else []
        self.results = self._tool_results()
        self._messages: dict[int, _Message] = {}

    def calls(self) -> list[ModelCall]:
        events = self.raw.get("events") or []
        if not isinstance(events, list):
            raise TraceError(f'{self.where}: "events" is {a_json_type(events)}, not a list')
        calls: list[ModelCall] = []
        skipped = 0
        for n, event in _model_events(events, self.where):
            where = f"{self.where}, event {n}"
            output = event.get("output")
            choices = output.get("choices") if isinstance(output, dict) else None
            if event.get("pending") or not choices:
                # A call that failed or never finished has no answer to replay.
                skipped += 1
                continue
            guesses = (
                [f"{skipped} earlier model call(s) of the sample without an answer are skipped"]
                if skipped
                else []
            )
            skipped = 0
            raw_input = self._input(event, where)
            self.budget.spend(len(raw_input), where)
            calls.append(self._call(event, raw_input, where, guesses))
        if calls or any(isinstance(e, dict) and e.get("event") == "model" for e in events):
            return calls
        return self._from_messages()

    # -- the parts of a call ---------------------------------------------------------------

    def _input(self, event: dict[str, Any], where: str) -> list[Any]:
        messages = event.get("input")
        if isinstance(messages, list) and messages:
            return messages
        refs = event.get("input_refs")
        if refs is None:
            return messages if isinstance(messages, list) else []
        if not isinstance(refs, list):
            raise TraceError(f'{where}: "input_refs" is {a_json_type(refs)}, not a list')
        found: list[Any] = []
        for ref in refs:
            if (
                not isinstance(ref, list)
                or len(ref) != 2
                or not all(isinstance(i, int) and not isinstance(i, bool) for i in ref)
            ):
                raise TraceError(f"{where}: an input_refs range is not [start, end]")
            start, end = ref
            if not 0 <= start <= end <= len(self.pool):
                raise TraceError(
                    f"{where}: input_refs [{start}, {end}) is outside the sample's "
                    f"{len(self.pool)} pooled messages"
                )
            if len(found) + end - start > MAX_INPUT_MESSAGES:
                raise TraceError(f"{where}: more than {MAX_INPUT_MESSAGES} input messages")
            found.extend(self.pool[start:end])
        return found

    def _call(
        self, event: dict[str, Any], raw_input: list[Any], where: str, guesses: list[str]
    ) -> ModelCall:
        output = event.get("output")
        assert isinstance(output, dict)
        choices = output["choices"]
        if not isinstance(choices, list) or not isinstance(choices[0], dict):
            raise TraceError(f"{where}: the output's choices are not a list of objects")
        if len(choices) > 1:
            guesses.append(f"{len(choices)} choices: the first is kept")
        reply = self._resolved(choices[0].get("message"), where, guesses)
        if not isinstance(reply, dict):
            raise TraceError(f"{where}: the output has no choices[0].message")
        system, messages = self._conversation(raw_input, where, guesses)
        content, dropped = text_of(reply.get("content"))
        if dropped:
            guesses.append(f"the answer's {names(dropped)} parts are dropped")
        tool_calls = tuple(
            self._record(call, n, where, guesses)
            for n, call in enumerate(_list(reply.get("tool_calls"), f"{where}: tool_calls"))
        )
        model = output.get("model") or _bare_model(event.get("model"))
        uuid = event.get("uuid")
        return ModelCall(
            index=0,
            source=Source(
                NAME,
                self.file,
                trace_id=self.trace_id or None,
                span_id=uuid if isinstance(uuid, str) else None,
            ),
            model=model if isinstance(model, str) else None,
            system=system,
            messages=tuple(messages),
            tools=tuple(self._tools(event.get("tools"), where, guesses)),
            tool_calls=tool_calls,
            output=content or None,
            params=self._params(event, guesses),
            guesses=tuple(dict.fromkeys(guesses)),
        )

    def _from_messages(self) -> list[ModelCall]:
        """One call from the sample's ``messages`` and ``output`` (a log without events)."""
        where = self.where
        messages = _list(self.raw.get("messages"), f'{where}: "messages"')
        output = self.raw.get("output")
        choices = output.get("choices") if isinstance(output, dict) else None
        if not choices:
            if not messages:
                return []
            raise TraceError(f"{where}: the sample has no model events and no output")
        # The answer is the output's message: the conversation is what came before it.
        last = max(
            (
                n
                for n, m in enumerate(messages)
                if isinstance(m, dict) and m.get("role") == "assistant"
            ),
            default=len(messages),
        )
        event = {"output": output, "model": self.raw.get("model"), "uuid": self.raw.get("uuid")}
        guesses = ["the sample has no model events: its messages and output are taken as one call"]
        return [self._call(event, messages[:last], where, guesses)]

    def _conversation(
        self, raw: list[Any], where: str, guesses: list[str]
    ) -> tuple[str | None, list[dict[str, Any]]]:
        system: list[str] = []
        messages: list[dict[str, Any]] = []
        for n, message in enumerate(raw):
            converted = self._converted(message, n, where)
            guesses.extend(converted.guesses)
            if converted.dropped:
                guesses.append(
                    f"input message {n}: its {names(converted.dropped)} parts are dropped"
                )
            if converted.chat is not None:
                messages.append(converted.chat)
            elif messages:
                guesses.append(f"input message {n}: a later system message is kept as a user one")
                messages.append({"role": "user", "content": converted.text})
            else:
                system.append(converted.text or "")
        if len(system) > 1:
            guesses.append(f"{len(system)} system messages joined into one system prompt")
        return ("\n\n".join(system) if system else None), messages

    def _converted(self, raw: Any, n: int, where: str) -> _Message:
        """An input message as a Chat message, once: a long run repeats its pooled messages in
        every later call's input, the same objects each time."""
        found = self._messages.get(id(raw))
        if found is not None and found.raw is raw:
            return found
        guesses: list[str] = []
        message = self._resolved(raw, where, guesses)
        if not isinstance(message, dict):
            raise TraceError(f"{where}: input message {n} is {a_json_type(message)}")
        role = message.get("role")
        text, dropped = text_of(message.get("content"))
        chat: dict[str, Any] | None = None
        if role == "tool":
            chat = self._tool_message(message, text, n, where)
        elif role == "assistant":
            chat = {"role": "assistant", "content": text or None}
            calls = _list(message.get("tool_calls"), f"{where}: input message {n} tool_calls")
            if calls:
                chat["tool_calls"] = [
                    _chat_call(self._record(call, i, where, [])) for i, call in enumerate(calls)
                ]
        elif role == "user":
            chat = {"role": "user", "content": text}
        elif role != "system":
            raise TraceError(f"{where}: input message {n} has role {_short(role)}")
        converted = _Message(raw, chat, text, tuple(dropped), tuple(guesses))
        self._messages[id(raw)] = converted
        return converted

    def _tool_message(
        self, message: dict[str, Any], text: str | None, n: int, where: str
    ) -> dict[str, Any]:
        call_id = message.get("tool_call_id")
        if not isinstance(call_id, str):
            raise TraceError(f"{where}: tool message {n} has no tool_call_id")
        error = message.get("error")
        if not text and isinstance(error, dict) and isinstance(error.get("message"), str):
            # The tool failed: what the model was told is the error.
            text = f"Error: {error['message']}"
        return {"role": "tool", "tool_call_id": call_id, "content": text or ""}

    def _record(self, call: Any, n: int, where: str, guesses: list[str]) -> ToolCallRecord:
        call = self._resolved(call, where, guesses)
        if not isinstance(call, dict) or not isinstance(call.get("function"), str):
            raise TraceError(f"{where}: tool call {n} has no function name")
        name = call["function"]
        raw, arguments = parse_arguments(call.get("arguments") or {})
        if call.get("parse_error"):
            guesses.append(f"tool call {n} ({name}): Inspect could not parse its arguments")
        elif arguments is None:
            guesses.append(f"tool call {n} ({name}): its arguments are not a JSON object")
        call_id = call.get("id")
        if not isinstance(call_id, str) or not call_id:
            call_id = f"call_{n}"
            guesses.append(f"tool call {n} ({name}) has no id: {call_id} given")
        return ToolCallRecord(
            id=call_id,
            name=name,
            arguments=arguments,
            arguments_raw=raw,
            result=self.results.get(call_id),
        )

    def _tools(self, raw: Any, where: str, guesses: list[str]) -> list[dict[str, Any]]:
        tools: list[dict[str, Any]] = []
        for n, tool in enumerate(_list(raw, f"{where}: tools")):
            tool = self._resolved(tool, where, guesses)
            if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
                raise TraceError(f"{where}: tool {n} has no name")
            function: dict[str, Any] = {"name": tool["name"]}
            if isinstance(tool.get("description"), str):
                function["description"] = tool["description"]
            if isinstance(tool.get("parameters"), dict):
                function["parameters"] = tool["parameters"]
            tools.append({"type": "function", "function": function})
        return tools

    def _params(self, event: dict[str, Any], guesses: list[str]) -> dict[str, Any]:
        config = event.get("config")
        params = (
            {chat: config[key] for key, chat in _PARAMS.items() if config.get(key) is not None}
            if isinstance(config, dict)
            else {}
        )
        choice = event.get("tool_choice")
        if choice in ("none", "any"):
            params["tool_choice"] = "required" if choice == "any" else "none"
        elif isinstance(choice, dict) and isinstance(choice.get("name"), str):
            params["tool_choice"] = {"type": "function", "function": {"name": choice["name"]}}
        elif choice not in (None, "auto"):
            guesses.append(f"the tool choice {_short(choice)} is not kept")
        return params

    def _tool_results(self) -> dict[str, str]:
        """What each tool call of the sample returned: its ``tool`` message's text."""
        results: dict[str, str] = {}
        messages = self.raw.get("messages")
        for message in messages if isinstance(messages, list) else ():
            if not isinstance(message, dict) or message.get("role") != "tool":
                continue
            message = self._resolved(message, self.where, [])
            call_id = message.get("tool_call_id")
            text, _ = text_of(message.get("content"))
            if isinstance(call_id, str):
                results.setdefault(
                    call_id, self._tool_message(message, text, 0, self.where)["content"]
                )
        return results

    # -- attachments -----------------------------------------------------------------------

    def _resolved(self, value: Any, where: str, guesses: list[str]) -> Any:
        """``value`` with every ``attachment://<hash>`` string put back from the sample's
        attachments; an unknown one stays as it is, said in ``guesses``."""
        if isinstance(value, str):
            if value.startswith((ATTACHMENT, _OLD_ATTACHMENT)):
                key = value.split("://", 1)[1]
                found = self.attachments.get(key)
                if isinstance(found, str):
                    return found
                guesses.append(f"{value[:60]} is not in the sample's attachments: kept as text")
            return value
        if isinstance(value, list):
            return [self._resolved(item, where, guesses) for item in value]
        if isinstance(value, dict):
            return {key: self._resolved(item, where, guesses) for key, item in value.items()}
        return value


def _model_events(events: list[Any], where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """The sample's model events, numbered by their place in the event list; events nested in
    a tool or subtask event (older logs) are walked too, each uuid once."""
    seen: set[str] = set()

    def walk(items: list[Any], prefix: str) -> Iterator[tuple[str, dict[str, Any]]]:
        for n, event in enumerate(items):
            if not isinstance(event, dict):
                raise TraceError(f"{where}, event {prefix}{n}: {a_json_type(event)}, not an event")
            uuid = event.get("uuid")
            if isinstance(uuid, str):
                if uuid in seen:
                    continue
                seen.add(uuid)
            if event.get("event") == "model":
                yield f"{prefix}{n}", event
            nested = event.get("events")
            if isinstance(nested, list) and nested:
                yield from walk(nested, f"{prefix}{n}.")

    yield from walk(events, "")


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise TraceError(f"{where} is {a_json_type(value)}, not a list")
    return value


def _chat_call(record: ToolCallRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "type": "function",
        "function": {"name": record.name, "arguments": record.arguments_raw},
    }


def _bare_model(model: Any) -> Any:
    """``openai/gpt-4o`` -> ``gpt-4o``: the provider prefix is Inspect's, not the API's."""
    return model.split("/", 1)[1] if isinstance(model, str) and "/" in model else model


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "..."
