"""Items -> requests -> transcript: one sample of one case replayed against the endpoint.

Tools are never executed: each call the model makes is answered by the sample's
:class:`~incident_evals.tool_world.ToolWorld` from the case's recorded responses (or by the
tool's own ``python`` handler).

Every answer, from an endpoint, a target or a recording, is checked by :func:`read_answer`
before anything reads it: an answer that is not a well-formed completion is an endpoint error,
never an empty output. Every request goes out through :func:`normalise_request`, in the form
the strictest common servers accept.
"""

from __future__ import annotations

import json
from collections.abc import Generator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from incident_evals.case_types import (
    DEFAULT_DOCUMENT_TEMPLATE,
    CaseInput,
    IncidentCase,
    Tool,
    assistant_turns,
)
from incident_evals.client import (
    MAX_ANSWER_DEPTH,
    MalformedAnswer,
    nested_deeper_than,
    one_line,
    quote_fragment,
)
from incident_evals.json_types import a_json_type
from incident_evals.tool_world import NO_RECORDED_RESPONSE as NO_RECORDED_RESPONSE
from incident_evals.tool_world import ToolWorld
from incident_evals.tool_world import is_subset as is_subset
from incident_evals.transcript import Exchange, ToolCall, Transcript

if TYPE_CHECKING:
    from collections.abc import Sequence

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


#: Usage counts that must be whole numbers when an answer gives them.
USAGE_COUNTS = ("prompt_tokens", "completion_tokens", "total_tokens")
#: Content parts read as the output's text, and the key holding each one's text.
TEXT_PARTS = {"text": "text", "refusal": "refusal"}


class Completer(Protocol):
    """Answers requests. A ``source`` attribute, if it has one, names it in error messages."""

    def complete(self, request: dict[str, Any]) -> tuple[dict[str, Any], float]: ...


class AsyncCompleter(Protocol):
    """Answers requests on the event loop (:mod:`incident_evals.dispatch`)."""

    async def acomplete(self, request: dict[str, Any]) -> tuple[dict[str, Any], float]: ...


# --- answers ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AnswerCall:
    """One tool call of an answer, its arguments as the JSON text they were (or became)."""

    id: str | None
    name: str
    arguments_raw: str


@dataclass(frozen=True)
class Answer:
    """What the replay reads from one answer, once :func:`read_answer` has checked its shape."""

    text: str
    calls: tuple[AnswerCall, ...]
    finish_reason: str | None
    model: str | None
    usage: dict[str, int]


def read_answer(response: Any, source: str = "the endpoint") -> Answer:
    """Check that ``response`` is a Chat Completions completion and read it.

    The one place an answer's shape is judged, whatever answered (an endpoint, a target, a
    recording). Raises :class:`~incident_evals.client.MalformedAnswer` naming the first field
    at fault: an answer that cannot be read must not become an empty output, which constraints
    like ``not_contains`` would pass.
    """

    malformed, wrong = complaints(source)
    check_object(response, "a completion", malformed, wrong)
    if "choices" not in response:
        raise malformed("choices is missing")
    choices = response["choices"]
    if not isinstance(choices, list):
        raise wrong("choices", choices, "an array")
    if not choices:
        raise malformed("choices is empty")
    choice = choices[0]
    if not isinstance(choice, dict):
        raise wrong("choices[0]", choice, "an object")
    if "message" not in choice:
        raise malformed("choices[0].message is missing")
    message = choice["message"]
    if not isinstance(message, dict):
        raise wrong("choices[0].message", message, "an object")
    finish_reason = choice.get("finish_reason")
    if finish_reason is not None and not isinstance(finish_reason, str):
        raise wrong("choices[0].finish_reason", finish_reason, "a string or null")
    model = response.get("model")
    if model is not None and not isinstance(model, str):
        raise wrong("model", model, "a string or null")
    refusal = message.get("refusal")
    if refusal is not None and not isinstance(refusal, str):
        raise wrong("choices[0].message.refusal", refusal, "a string or null")
    calls = _read_calls(message.get("tool_calls"), wrong, malformed)
    text = _read_content(message, wrong, malformed)
    if text is None and not calls and not refusal:
        reason = f" (finish_reason {quote_fragment(finish_reason)})" if finish_reason else ""
        raise malformed(f"choices[0].message has no content, tool calls or refusal{reason}")
    return Answer(
        text=text or "",
        calls=calls,
        finish_reason=finish_reason,
        model=model or None,
        usage=_read_usage(response.get("usage"), wrong, malformed),
    )


class Malformed(Protocol):
    def __call__(self, problem: str) -> MalformedAnswer: ...


class Wrong(Protocol):
    def __call__(self, path: str, value: Any, expected: str) -> MalformedAnswer: ...


def complaints(source: str) -> tuple[Malformed, Wrong]:
    """The two one-line errors about an answer from ``source``: a problem in words, and a field
    of the wrong JSON type."""

    def malformed(problem: str) -> MalformedAnswer:
        return MalformedAnswer(f"malformed answer from {source}: {problem}")

    def wrong(path: str, value: Any, expected: str) -> MalformedAnswer:
        return malformed(f"{path} is {a_json_type(value)}, expected {expected}")

    return malformed, wrong


def check_object(response: Any, kind: str, malformed: Malformed, wrong: Wrong) -> None:
    """Raise unless ``response`` is an object without an ``error``; ``kind`` names what it
    should be instead ("a completion")."""
    if not isinstance(response, dict):
        raise wrong("the answer", response, "an object")
    error = response.get("error")
    if error is not None:
        raise malformed(f"it holds an error, not {kind}: {error_text(error)}")


def error_text(error: Any) -> str:
    message = error.get("message") if isinstance(error, dict) else error
    if isinstance(message, str) and message.strip():
        return quote_fragment(one_line(message, len(message)))
    return f"{a_json_type(error)} with no message"


def _read_content(message: dict[str, Any], wrong: Any, malformed: Any) -> str | None:
    """The text of ``message``, or ``None`` when it has none."""
    content = message.get("content")
    if content is None or isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise wrong(
            "choices[0].message.content", content, "a string, null or an array of content parts"
        )
    # OpenAI content parts: text (and refusal) parts are the text, in order; others (images,
    # audio) have no text to judge and are skipped.
    texts: list[str] = []
    skipped: list[str] = []
    for index, part in enumerate(content):
        path = f"choices[0].message.content[{index}]"
        if not isinstance(part, dict):
            raise wrong(path, part, "a content part (an object)")
        kind = part.get("type")
        if not isinstance(kind, str):
            raise wrong(f"{path}.type", kind, "a string")
        key = TEXT_PARTS.get(kind)
        if key is None:
            skipped.append(kind)
            continue
        value = part.get(key)
        if not isinstance(value, str):
            raise wrong(f"{path}.{key}", value, "a string")
        texts.append(value)
    if not texts and content:
        kinds = ", ".join(dict.fromkeys(quote_fragment(kind) for kind in skipped))
        raise malformed(f"choices[0].message.content has no text part (only {kinds})")
    return "".join(texts) if texts else None


def _read_calls(raw_calls: Any, wrong: Any, malformed: Any) -> tuple[AnswerCall, ...]:
    if raw_calls is None:
        return ()
    if not isinstance(raw_calls, list):
        raise wrong("choices[0].message.tool_calls", raw_calls, "an array")
    calls = []
    for index, raw in enumerate(raw_calls):
        path = f"choices[0].message.tool_calls[{index}]"
        if not isinstance(raw, dict):
            raise wrong(path, raw, "an object")
        call_id = raw.get("id")
        if call_id is not None and not isinstance(call_id, str):
            raise wrong(f"{path}.id", call_id, "a string")
        if "function" not in raw:
            raise malformed(f"{path}.function is missing")
        function = raw["function"]
        if not isinstance(function, dict):
            raise wrong(f"{path}.function", function, "an object")
        name = function.get("name")
        if name is None:
            raise malformed(f"{path}.function.name is missing")
        if not isinstance(name, str):
            raise wrong(f"{path}.function.name", name, "a string")
        if not name:
            raise malformed(f"{path}.function.name is empty")
        arguments = function.get("arguments")
        if arguments is None:
            arguments_raw = ""
        elif isinstance(arguments, str):
            arguments_raw = arguments
        else:
            # Arguments sent as JSON data rather than as its text (some servers do): the text
            # they stand for. Parsing then judges them as it judges any arguments.
            arguments_raw = json.dumps(arguments, ensure_ascii=False)
        calls.append(AnswerCall(call_id or None, name, arguments_raw))
    return tuple(calls)


def _read_usage(usage: Any, wrong: Any, malformed: Any) -> dict[str, int]:
    if usage is None:
        return {}
    if not isinstance(usage, dict):
        raise wrong("usage", usage, "an object or null")
    for key in USAGE_COUNTS:
        value = usage.get(key)
        if isinstance(value, bool) or not isinstance(value, int | None):
            raise wrong(f"usage.{key}", value, "a whole number of tokens")
        if value is not None and value < 0:
            # Its type is right ("an integer"): its value is what is wrong.
            raise malformed(f"usage.{key} is {value}, expected a whole number of tokens")
    # Other counts (cached tokens, details) are kept when they are whole numbers.
    return {
        key: value
        for key, value in usage.items()
        if isinstance(value, int) and not isinstance(value, bool)
    }


# --- requests --------------------------------------------------------------------------------


def normalise_request(request: dict[str, Any]) -> dict[str, Any]:
    """``request`` in the form strict servers accept; the meaning is unchanged.

    Every request of the replay (the first one, and each turn of the tool loop) goes out
    through here. What it changes, and who rejects the original form:

    - ``content: null`` becomes ``""``: llama-cpp-python's server rejects a null content on an
      assistant turn (the form OpenAI writes beside tool calls, and ``incident-evals new
      --from-openai`` keeps).
    - content that is not text or content parts (JSON data) becomes its JSON text, and so does
      any non-text content of a tool message: servers take text there.
    - tool calls get ``type: "function"`` and an ``id`` when they have none, and arguments
      given as JSON data (or not at all) become JSON text: llama.cpp's servers require all
      three, and OpenAI sends arguments as text.
    - an empty ``tool_calls`` list is dropped: OpenAI refuses an empty one.
    """
    messages = request.get("messages")
    if not isinstance(messages, list):
        return request
    return {**request, "messages": [_normal_message(m, i) for i, m in enumerate(messages)]}


def _normal_message(message: Any, index: int) -> Any:
    if not isinstance(message, Mapping):
        return message
    normal = dict(message)
    content = normal.get("content")
    if content is None:
        normal["content"] = ""
    elif not isinstance(content, str) and (
        normal.get("role") == "tool" or not isinstance(content, list)
    ):
        normal["content"] = json.dumps(content, ensure_ascii=False)
    calls = normal.get("tool_calls")
    if calls == [] or calls is None:
        normal.pop("tool_calls", None)
    elif isinstance(calls, list):
        normal["tool_calls"] = [_normal_call(call, index, i) for i, call in enumerate(calls)]
    return normal


def _normal_call(call: Any, message: int, index: int) -> Any:
    if not isinstance(call, Mapping):
        return call
    normal = dict(call)
    normal.setdefault("type", "function")
    if not normal.get("id"):
        normal["id"] = f"call_m{message}_{index}"
    function = normal.get("function")
    if isinstance(function, Mapping):
        function = dict(function)
        arguments = function.get("arguments")
        if arguments is None:
            function["arguments"] = "{}"
        elif not isinstance(arguments, str):
            function["arguments"] = json.dumps(arguments, ensure_ascii=False)
        normal["function"] = function
    return normal


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
    return normalise_request(request)


def recorded_response(tool: Tool | None, arguments: dict[str, Any] | None) -> Any:
    """The answer a first call of ``tool`` with ``arguments`` gets, in a fresh world."""
    if tool is None:
        return NO_RECORDED_RESPONSE
    call = ToolCall(id="", name=tool.name, arguments_raw="", arguments=arguments)
    return ToolWorld((tool,)).answer(call)


def parse_arguments(raw: str | None) -> tuple[dict[str, Any] | None, str | None]:
    if not raw:
        return {}, None
    try:
        parsed = json.loads(raw, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        return None, f"arguments are not valid JSON ({exc.msg}, char {exc.pos})"
    except RecursionError:
        return None, f"arguments are nested deeper than {MAX_ANSWER_DEPTH} levels"
    except ValueError as exc:
        return None, f"arguments are not valid JSON ({exc})"
    if not isinstance(parsed, dict):
        return None, f"arguments are JSON {type(parsed).__name__}, not an object"
    if nested_deeper_than(parsed, MAX_ANSWER_DEPTH):
        # Reports and constraints walk the arguments recursively.
        return None, f"arguments are nested deeper than {MAX_ANSWER_DEPTH} levels"
    return parsed, None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _tool_message(call: ToolCall) -> dict[str, Any]:
    if call.arguments_error:
        content: Any = {"error": call.arguments_error}
    else:
        content = call.output
    text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
    return {"role": "tool", "tool_call_id": call.id, "content": text}


def _tool_call(raw: AnswerCall, turn: int, index: int, prefix: str = "call_") -> ToolCall:
    arguments, error = parse_arguments(raw.arguments_raw)
    return ToolCall(
        id=raw.id or f"{prefix}{turn}_{index}",
        name=raw.name,
        arguments_raw=raw.arguments_raw,
        arguments=arguments,
        arguments_error=error,
    )


#: One sample's replay as a generator: it yields each request, is sent back the reply and its
#: latency (as :meth:`Completer.complete` gives them), and returns the transcript. Whoever
#: drives it decides how requests go out: :func:`replay` blocks on each, :func:`replay_async`
#: awaits each on the event loop.
Steps = Generator[dict[str, Any], tuple[dict[str, Any], float], Transcript]


def replay(
    case: IncidentCase,
    client: Completer,
    model: str,
    overrides: Mapping[str, Any] | None = None,
) -> Transcript:
    """Run one sample: call, answer tool calls from recordings, call again, up to ``max_turns``.

    Under ``input.regenerate: all`` every assistant turn of the conversation is generated so,
    in order (:func:`_replay_conversation`).
    """
    steps = replay_steps(case, model, overrides, _source(client))
    try:
        request = next(steps)
        while True:
            request = steps.send(client.complete(request))
    except StopIteration as done:
        transcript: Transcript = done.value
        return transcript


async def replay_async(
    case: IncidentCase,
    client: AsyncCompleter,
    model: str,
    overrides: Mapping[str, Any] | None = None,
) -> Transcript:
    """:func:`replay`, each request awaited (on the event loop) instead of waited for."""
    steps = replay_steps(case, model, overrides, _source(client))
    try:
        request = next(steps)
        while True:
            request = steps.send(await client.acomplete(request))
    except StopIteration as done:
        transcript: Transcript = done.value
        return transcript


def _source(client: object) -> str:
    return str(getattr(client, "source", "the endpoint"))


def replay_steps(
    case: IncidentCase,
    model: str,
    overrides: Mapping[str, Any] | None = None,
    source: str = "the endpoint",
) -> Steps:
    """The steps of one sample (:data:`Steps`); ``source`` names what answers in errors."""
    request = build_request(case, model, overrides)
    transcript = Transcript()
    # One world per sample: counts (`times`) and state start afresh on every repeat, and carry
    # over from one turn of a regenerated conversation to the next.
    world = ToolWorld(case.input.tools)
    if case.input.regenerate == "all":
        yield from _replay_conversation(case, source, request, transcript, world)
    else:
        yield from _generate(case, source, request, (transcript,), world)
    return transcript


def _replay_conversation(
    case: IncidentCase,
    source: str,
    request: dict[str, Any],
    transcript: Transcript,
    world: ToolWorld,
) -> Generator[dict[str, Any], tuple[dict[str, Any], float], None]:
    """Generate every assistant turn of the case's conversation, in order.

    The user (and system) messages are sent as written. Each recorded assistant turn (an
    assistant message with the tool calls it made and their tool messages, up to the next user
    message) is left out: the model's own reply, with its own tool loop, takes its place in
    every later request. The final reply follows the last message, as without regenerate.
    A turn that ends still calling tools (``max_turns``) ends the conversation: a user message
    cannot follow unanswered tool calls.
    """
    sent = request["messages"]
    # build_request puts the system message (with the documents) before the case's messages.
    head = len(sent) - len(case.input.messages)
    written = sent[head:]
    conversation = list(sent[:head])
    position = 0
    for start, end in [*assistant_turns(case.input.messages), (len(written), len(written))]:
        conversation.extend(written[position:start])
        position = end
        turn = Transcript(judgements=transcript.judgements)
        transcript.turns.append(turn)
        turn_request = normalise_request({**request, "messages": conversation})
        # Ids the endpoint leaves out are made unique across the conversation's turns.
        prefix = f"call_t{len(transcript.turns)}_"
        conversation = yield from _generate(
            case, source, turn_request, (transcript, turn), world, prefix
        )
        if turn.truncated:
            return


def _generate(
    case: IncidentCase,
    source: str,
    request: dict[str, Any],
    transcripts: Sequence[Transcript],
    world: ToolWorld,
    prefix: str = "call_",
) -> Generator[dict[str, Any], tuple[dict[str, Any], float], list[dict[str, Any]]]:
    """One assistant turn: call, answer its tool calls from recordings, call again.

    Every exchange, tool call and reply goes into each of ``transcripts`` (the sample's, and
    the turn's own under ``regenerate: all``). Returns the conversation with the turn in it.
    """
    turns = 0
    while True:
        response, latency = yield request
        answer = read_answer(response, source)
        exchange = Exchange(request=request, response=response, latency_s=latency)
        for transcript in transcripts:
            transcript.exchanges.append(exchange)
            transcript.latency_s += latency
            transcript.add_usage(answer.usage)
            transcript.model = answer.model or transcript.model
            transcript.finish_reason = answer.finish_reason
            transcript.final_text = answer.text
        if not answer.calls:
            return [*request["messages"], {"role": "assistant", "content": answer.text}]
        calls = [_tool_call(raw, turns, index, prefix) for index, raw in enumerate(answer.calls)]
        for transcript in transcripts:
            transcript.tool_calls.extend(calls)
        if turns >= case.runs.max_turns:
            # The model asked for more than the case allows: recorded, left unanswered.
            for call in calls:
                call.answered = False
            for transcript in transcripts:
                transcript.truncated = True
            return list(request["messages"])
        turns += 1
        for call in calls:
            call.output = world.answer(call)
        assistant = {
            "role": "assistant",
            "content": answer.text,
            "tool_calls": [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments_raw},
                }
                for call in calls
            ],
        }
        request = normalise_request(
            {**request, "messages": [*request["messages"], assistant, *map(_tool_message, calls)]}
        )
