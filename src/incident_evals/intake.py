"""``incident-evals new``: a case file for an incident, from flags, prompts or a captured exchange.

Four sources, one result: ``incident_cases/<category>/<id>.yaml``, a case that loads except for
its ``expect``, which is left empty on purpose (constraints say what must never happen again, and
only the engineer knows that). From a captured Chat Completions exchange (``--from-openai``), a
model call of a trace (``--from-trace``, linked back to it in ``incident.source``) or the
plugin's own recordings (``--from-recording``), the case holds the exact trigger (system
prompt, retrieved documents, conversation, tools and their recorded responses, model params) and
the bad behaviour as ``recorded_output`` / ``recorded_tool_calls``; before it is written, it is
checked to read back as built and to replay the captured messages exactly. Nothing is ever
overwritten.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import re
import sys
import tempfile
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from incident_evals import placeholders
from incident_evals.case import DEFAULT_DOCUMENT_TEMPLATE
from incident_evals.json_types import a_json_type
from incident_evals.patterns import BoundedPattern, PatternError, PatternTimeout, compile_pattern
from incident_evals.replay import REQUEST_PARAMS
from incident_evals.secrets import placeholder
from incident_evals.traces import NO_TOOL_DEFINITIONS, Source, TraceError, infer_tools
from incident_evals.vocabulary import CATEGORIES, SEVERITIES_ASCENDING

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Sequence

    from incident_evals.constraints import LoadedCase
    from incident_evals.guard import Finding
    from incident_evals.traces import ModelCall
    from incident_evals.traces.formats import Logged

__all__ = [
    "CandidateWriter",
    "Capture",
    "IntakeError",
    "capture_call",
    "capture_exchange",
    "derive_id",
    "read_openai",
    "read_recording",
    "read_trace",
    "run",
    "slug",
    "split_documents",
    "write_case",
]

PROG = "incident-evals new"
EXIT_OK = 0
#: Every refusal of ``new`` (bad flags, bad input, a name already taken) writes nothing.
EXIT_USAGE = 2
#: The editor schema, written once at the catalogue root, for the case files' modeline.
SCHEMA_FILE = "case.schema.json"
CASE_ID = re.compile(r"[A-Za-z0-9._-]+")
#: Long titles make unwieldy file names; the id keeps the title's first words.
SLUG_LENGTH = 48
#: The skeleton's user message; the loader refuses a case that still holds it.
PLACEHOLDER_MESSAGE = placeholders.TRIGGER
EXPECT_LINE = "expect: []\n"
#: Fields a case message may have (the case schema's ``message``).
MESSAGE_FIELDS = ("role", "name", "tool_call_id", "content", "tool_calls")
ROLES = ("user", "assistant", "tool", "system")
#: Request params a case keeps in ``model``: those the replay sends.
MODEL_PARAMS = REQUEST_PARAMS
#: Request fields the case format represents: everything else is reported as not kept.
KEPT_REQUEST_FIELDS = frozenset({"model", "messages", "tools", *MODEL_PARAMS})

# The default document rendering, as a pattern: a document of the captured system prompt.
_DOCUMENT = re.compile(
    re.escape(DEFAULT_DOCUMENT_TEMPLATE)
    .replace(re.escape("{id}"), r'(?P<id>[^"\n]*)')
    .replace(re.escape("{title}"), r'(?P<title>[^"\n]*)')
    .replace(re.escape("{content}"), r"(?P<content>.*?)"),
    re.DOTALL,
)


class IntakeError(Exception):
    """Why ``new`` wrote nothing: one line, naming the file (and line) it is about."""


@dataclass
class Capture:
    """What a captured exchange gives a case."""

    #: The case's ``input`` mapping.
    input: dict[str, Any]
    model: dict[str, Any]
    recorded_output: str | None
    recorded_tool_calls: list[dict[str, Any]]
    #: The request's messages as the case must replay them (the round-trip check).
    messages: list[dict[str, Any]]
    #: The day of the exchange (the response's ``created``), if it says.
    date: str | None
    #: Where it came from ("the captured exchange FILE"), for the file's header comment.
    source: str
    #: What the case could not keep, one line each.
    notes: list[str] = field(default_factory=list)
    #: Comments the file shows above ``input`` (what in it was guessed), one line each.
    input_comments: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# Reading captured exchanges
# --------------------------------------------------------------------------------------------


def _decode(path: Path, shown: str) -> str:
    """The file as text, read as every captured trace is (size-bounded, UTF-8, one line)."""
    from incident_evals.traces import TraceError
    from incident_evals.traces.formats import read_text

    try:
        return read_text(path, shown)
    except TraceError as exc:
        raise IntakeError(str(exc)) from None


def read_openai(path_text: str, index: int | None) -> tuple[dict[str, Any], dict[str, Any], str]:
    """The chosen ``(request, response, where)`` of a captured exchange file.

    The file is one JSON object ``{"request": ..., "response": ...}`` or JSONL, one per line.
    ``where`` names the file, and the line for JSONL, for messages about this exchange.
    """
    text = _decode(Path(path_text), path_text)
    if not text.strip():
        raise IntakeError(
            f'{path_text}: empty: expected a JSON object {{"request": ..., "response": ...}}, '
            "or one per line (JSONL)"
        )
    lines: list[tuple[int, str]]
    try:
        record = json.loads(text)
        lines = [(0, text)]
    except json.JSONDecodeError as exc:
        # JSON strings may hold U+2028 and friends raw: only "\n" ends a JSONL record.
        lines = [(n, line) for n, line in enumerate(text.split("\n"), 1) if line.strip()]
        # JSONL when its first record is one line of JSON (not, say, two indented objects).
        if exc.msg != "Extra data" or not _is_json(lines[0][1]):
            raise IntakeError(
                f"{path_text}:{exc.lineno}: not JSON ({exc.msg}, column {exc.colno})"
            ) from None
        # Only the chosen line is parsed: a log with a truncated last line still gives the others.
    count = len(lines)
    if index is None and count > 1:
        raise IntakeError(
            f"{path_text} holds {count} exchanges (one per line): choose one with "
            f"--index 0 to {count - 1}"
        )
    chosen = index or 0
    if chosen >= count:
        held = f"{count} exchange" if count == 1 else f"{count} exchanges"
        choices = "--index 0" if count == 1 else f"--index 0 to {count - 1}"
        raise IntakeError(
            f"{path_text}: --index {chosen} is out of range: it holds {held} ({choices})"
        )
    number, line = lines[chosen]
    where = f"{path_text}:{number}" if number else path_text
    if number:
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise IntakeError(f"{where}: not JSON ({exc.msg}, column {exc.colno})") from None
    if not isinstance(record, dict):
        raise IntakeError(
            f'{where}: expected a JSON object {{"request": ..., "response": ...}}, '
            f"got {a_json_type(record)}"
        )
    return (*_exchange(record, where), where)


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except json.JSONDecodeError:
        return False
    return True


def _exchange(record: dict[str, Any], where: str) -> tuple[dict[str, Any], dict[str, Any]]:
    request, response = record.get("request"), record.get("response")
    for name, value in (("request", request), ("response", response)):
        if value is None:
            raise IntakeError(f'{where}: no "{name}": expected {{"request": ..., "response": ...}}')
        if not isinstance(value, dict):
            raise IntakeError(f'{where}: "{name}" is {a_json_type(value)}, not an object')
    assert isinstance(request, dict)
    assert isinstance(response, dict)
    messages = request.get("messages")
    if not isinstance(messages, list) or not messages:
        raise IntakeError(f"{where}: the request has no messages")
    return request, response


class Redaction:
    """``--redact REGEX``: more that a case made from a capture must not copy, beyond the
    credentials that are always taken out. Every match in every text is replaced."""

    def __init__(self, patterns: tuple[BoundedPattern, ...]) -> None:
        self.patterns = patterns
        #: How many matches were replaced so far.
        self.count = 0

    def apply(self, value: Any, where: str) -> Any:
        """``value`` (JSON) with the matches of every pattern replaced in its texts."""
        if not self.patterns:
            return value
        if isinstance(value, str):
            for pattern in self.patterns:
                try:
                    value, found = pattern.sub(REDACTED, value)
                except PatternTimeout as exc:
                    raise IntakeError(f"{where}: --redact {exc}") from None
                self.count += found
            return value
        if isinstance(value, dict):
            return {key: self.apply(item, where) for key, item in value.items()}
        if isinstance(value, list):
            return [self.apply(item, where) for item in value]
        return value

    def note(self) -> str:
        times = "1 match" if self.count == 1 else f"{self.count} matches"
        return f"--redact replaced {times} with {REDACTED}"


#: What ``--redact`` leaves where it removed something.
REDACTED = placeholder("--redact")


def redaction_pattern(text: str) -> BoundedPattern:
    """A ``--redact`` value, checked: :class:`PatternError` with one line when unusable."""
    pattern = compile_pattern(text)
    if pattern.compiled.fullmatch(""):
        raise PatternError("it matches the empty string, so it would redact between every letter")
    return pattern


def _tool_name(tool: dict[str, Any]) -> Any:
    function = tool.get("function")
    return function.get("name") if isinstance(function, dict) else None


def read_trace(
    path_text: str,
    format: str | None,
    number: int | None,
    redaction: Redaction | None = None,
) -> tuple[Capture, Source]:
    """The capture of call ``number`` of a trace file (default: its last call with a tool call or
    an output), and where it came from.

    Credentials found in the call are redacted before anything is built from it.
    """
    from incident_evals.traces.formats import read_calls

    try:
        calls = read_calls(Path(path_text), format)
    except TraceError as exc:
        raise IntakeError(str(exc)) from None
    if not calls:
        raise IntakeError(f"{path_text}: no model calls")
    if number is None:
        answered = [call for call in calls if call.tool_calls or call.output is not None]
        if not answered:
            raise IntakeError(
                f"{path_text}: no call has a tool call or an output: choose one with --call"
            )
        call = answered[-1]
    elif number >= len(calls):
        held = "1 call" if len(calls) == 1 else f"{len(calls)} calls"
        raise IntakeError(
            f"{path_text}: --call {number} is out of range: it holds {held} (--call 0 to "
            f"{len(calls) - 1})"
        )
    else:
        call = calls[number]
    return capture_call(call, f"{path_text} call {call.index}", redaction), call.source


def capture_call(call: ModelCall, shown: str, redaction: Redaction | None = None) -> Capture:
    """The capture of one model call of a trace or log (``shown``: where it is, for messages),
    as ``new --from-trace`` and ``scan --new-cases`` build their cases.

    Credentials found in the call (anyone's, and those of this environment) are redacted before
    anything is built from it.
    """
    from incident_evals.secrets import Scrubber

    where = f"{shown} ({call.source.format})"
    if not call.messages:
        raise IntakeError(
            f"{where}: the trace holds no conversation for this call, only its answer: a case "
            "needs the messages that triggered it"
        )
    guesses = [f"the importer guessed: {guess}" for guess in call.guesses]
    # An importer that reads tool calls in its own shapes infers the definitions itself.
    inference = next((g for g in call.guesses if g.startswith(NO_TOOL_DEFINITIONS)), None)
    declared = {_tool_name(tool) for tool in call.tools}
    tools, inferred = infer_tools(list(call.messages), list(call.tool_calls))
    missing = [tool for tool in tools if _tool_name(tool) not in declared]
    if inferred is not None and missing:
        call = dataclasses.replace(call, tools=(*call.tools, *missing))
        if call.tools == tuple(missing):
            what = inferred
        else:
            # A call to a tool the request did not offer: its responses still need a tool.
            undeclared = ", ".join(str(_tool_name(tool)) for tool in missing)
            what = f"the trace declares no definition of {undeclared}; inferred from the calls"
        inference = (
            f"{what}: each takes the argument names it was called with; add their types and "
            "descriptions"
        )
        guesses.append(inference)
    request, response = call.chat_exchange()
    # What the tools returned for the call's own tool calls, when the trace has it (a later
    # call was sent it, or a tool span recorded it).
    answers = [
        {"role": "tool", "tool_call_id": record.id, "content": record.result}
        for record in call.tool_calls
        if record.result is not None
    ]
    scrubber = Scrubber.from_environment()
    scrubbed = scrubber.deep([request, response, answers])
    if scrubbed != [request, response, answers]:
        guesses.append("credentials found in the trace are redacted")
    if redaction is not None:
        scrubbed = redaction.apply(scrubbed, where)
    capture = capture_exchange(scrubbed[0], scrubbed[1], where, answers=scrubbed[2])
    capture.source = f"the trace {where}"
    if inference is not None:
        capture.input_comments.append(inference[0].upper() + inference[1:])
    capture.notes = [*dict.fromkeys(guesses), *capture.notes]
    return capture


@dataclass(frozen=True)
class _Recorded:
    path: Path
    request: dict[str, Any]
    response: dict[str, Any]

    @property
    def tools(self) -> str:
        return json.dumps(self.request.get("tools"), sort_keys=True)

    @property
    def messages(self) -> list[Any]:
        messages: list[Any] = self.request["messages"]
        return messages

    def extends(self, other: _Recorded) -> bool:
        """This request continues ``other``'s tool loop (same tools, its messages and more)."""
        count = len(other.messages)
        return (
            self.tools == other.tools
            and len(self.messages) > count
            and self.messages[:count] == other.messages
        )


#: The first request of a case (messages, tools) as the plugin sends it, if the case is known.
OriginalRequest = tuple[list[dict[str, Any]], list[dict[str, Any]] | None]


def read_recording(
    directory_text: str,
    case_id: str,
    original: Callable[[], OriginalRequest | None],
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], str]:
    """Sample 0's tool loop of ``case_id`` from ``--incident-record`` files.

    ``(first request, last request, last response, where)``: the loop's trigger, and its last
    exchange, which holds every tool call and tool answer of the loop and the final reply.

    Only the model under test's exchanges count (``<case id>/*.json``): judge exchanges and
    side-by-side baseline models live in subfolders. A case with variants has one tool loop per
    variant in the same folder: ``original`` (the case's own first request, from the catalogue)
    tells which loop is the case's.
    """
    directory = Path(directory_text)
    if not directory.is_dir():
        raise IntakeError(f"--from-recording: {directory_text}: no such folder of recordings")
    if not CASE_ID.fullmatch(case_id) or case_id in {".", ".."}:
        raise IntakeError(f"--from-recording: {case_id!r} is not a case id ([A-Za-z0-9._-]+)")
    folder = directory / case_id
    shown = os.path.join(directory_text, case_id)
    if not folder.is_dir():
        recorded = sorted(p.name for p in directory.iterdir() if p.is_dir())
        known = f" (recorded: {', '.join(recorded)})" if recorded else " (it holds none)"
        raise IntakeError(f"{directory_text}: no recordings of case {case_id}{known}")
    records = []
    # Sorted: the choice below, and any error, must not depend on the file system's order.
    for path in sorted(folder.glob("*.json")):
        if path.name.startswith(".tmp-"):
            continue  # a recording being written by a run still going on
        where = os.path.join(shown, path.name)
        try:
            record = json.loads(_decode(path, where))
        except json.JSONDecodeError as exc:
            raise IntakeError(
                f"{where}:{exc.lineno}: not JSON ({exc.msg}, column {exc.colno})"
            ) from None
        if not isinstance(record, dict):
            raise IntakeError(f"{where}: not a recording: it holds {a_json_type(record)}")
        request, response = _exchange(record, where)
        if record.get("sample", 0) == 0:
            records.append(_Recorded(path, request, response))
    if not records:
        raise IntakeError(f"{shown}: no recordings of sample 0 (*.json)")
    finals = [r for r in records if not any(other.extends(r) for other in records)]
    if len(finals) > 1:
        first = original()
        if first is None:
            raise IntakeError(
                f"{shown}: sample 0 holds {len(finals)} separate tool loops (the case's variants, "
                f"or older recordings); case {case_id} would tell which is its own, but the "
                "catalogue (--cases) has no loadable case with that id"
            )
        messages, tools = first
        finals = [
            r
            for r in finals
            if r.messages[: len(messages)] == messages and r.request.get("tools") == tools
        ]
        if not finals:
            raise IntakeError(
                f"{shown}: no recorded tool loop starts with case {case_id}'s request "
                "(was the case edited since it was recorded?)"
            )
        if len(finals) > 1:
            raise IntakeError(
                f"{shown}: {len(finals)} recorded tool loops start with case {case_id}'s "
                "request (recordings of several runs?): record into an empty folder"
            )
    final = finals[0]
    # The loop's first request: the one the case sent before any tool call was answered.
    trigger = min(
        (r for r in records if final.extends(r)), key=lambda r: len(r.messages), default=final
    )
    return trigger.request, final.request, final.response, os.path.join(shown, final.path.name)


# --------------------------------------------------------------------------------------------
# Exchange -> case
# --------------------------------------------------------------------------------------------


def split_documents(system: str) -> tuple[str | None, list[dict[str, str]], str | None]:
    """``(system text, documents, why not)``: the documents rendered into a system prompt.

    Only documents the replay would render back identically are taken out: a trailing block of
    the default template, one per line, after the system text and a blank line. Otherwise the
    prompt stays whole (the third value says why), since a case must replay the exact trigger.
    """
    for match in _DOCUMENT.finditer(system):
        start = match.start()
        if start and not system[:start].endswith("\n\n"):
            continue
        documents = _document_block(system[start:])
        if documents is None:
            continue
        text = system[: start - 2] if start else None
        ids = [doc["id"] for doc in documents]
        duplicate = next((i for i in ids if ids.count(i) > 1), None)
        if duplicate is not None:
            return system, [], f"document id {duplicate!r} appears twice"
        if "" in ids:
            return system, [], "a document has an empty id"
        rendered = "\n".join(
            DEFAULT_DOCUMENT_TEMPLATE.format(id=d["id"], title=d["title"], content=d["content"])
            for d in documents
        )
        if "\n\n".join(part for part in (text, rendered) if part) != system:
            continue  # e.g. empty text before the blank line: it would not render back
        for document in documents:
            if not document["title"]:
                del document["title"]
        return text, documents, None
    if _DOCUMENT.search(system):
        return (
            system,
            [],
            (
                "they are not the trailing block the default rendering makes (the system text, a "
                "blank line, then one document per line)"
            ),
        )
    return system, [], None


def _document_block(text: str) -> list[dict[str, str]] | None:
    documents = []
    position = 0
    while True:
        match = _DOCUMENT.match(text, position)
        if match is None:
            return None
        documents.append({"id": match["id"], "title": match["title"], "content": match["content"]})
        position = match.end()
        if position == len(text):
            return documents
        if text[position] != "\n":
            return None
        position += 1


def _text(value: Any, field: str, where: str, notes: list[str]) -> Any:
    """Message content as a case holds it: a string (or null); text parts joined."""
    if not isinstance(value, list):
        return value
    texts = []
    for number, part in enumerate(value):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind != "text" or not isinstance(part.get("text"), str):
            shown = f"a part of type {kind!r}" if isinstance(kind, str) else a_json_type(part)
            raise IntakeError(
                f"{where}: {field}[{number}]: {shown} cannot be kept: a case message holds text"
            )
        texts.append(part["text"])
    if len(texts) != 1:
        notes.append(f"{field}: its {len(texts)} text parts are joined with line breaks")
    return "\n".join(texts)


def _message(raw: Any, number: int, where: str, notes: list[str]) -> dict[str, Any]:
    at = f"request.messages[{number}]"
    if not isinstance(raw, dict):
        raise IntakeError(f"{where}: {at} is {a_json_type(raw)}, not a message object")
    role = raw.get("role")
    if role not in ROLES:
        raise IntakeError(f"{where}: {at}: role {role!r} is not one of {', '.join(ROLES)}")
    for key, value in raw.items():
        if key not in MESSAGE_FIELDS and value is not None:
            notes.append(f"{at}.{key} is not kept: a case message has no such field")
    # In the fields' order, whatever the capture's (recordings sort keys): role first reads best.
    message = {key: raw[key] for key in MESSAGE_FIELDS if key in raw}
    if "content" in message:
        message["content"] = _text(message["content"], f"{at}.content", where, notes)
    if isinstance(message.get("tool_calls"), list):
        message["tool_calls"] = [_call_in_order(call) for call in message["tool_calls"]]
    return message


def _call_in_order(call: Any) -> Any:
    """A tool call with its keys in the usual order (a dict compares equal in any order)."""
    if not isinstance(call, dict):
        return call
    ordered = _in_order(call, ("id", "type", "function"))
    if isinstance(ordered.get("function"), dict):
        ordered["function"] = _in_order(ordered["function"], ("name", "arguments"))
    return ordered


def _in_order(mapping: dict[str, Any], first: tuple[str, ...]) -> dict[str, Any]:
    return {key: mapping[key] for key in [*(k for k in first if k in mapping), *mapping]}


def _tool(raw: Any, number: int, notes: list[str]) -> dict[str, Any] | None:
    at = f"request.tools[{number}]"
    function = raw.get("function") if isinstance(raw, dict) else None
    if (
        not isinstance(raw, dict)
        or raw.get("type", "function") != "function"
        or not isinstance(function, dict)
    ):
        notes.append(f"{at} is not kept: only function tools replay")
        return None
    tool: dict[str, Any] = {"name": function.get("name")}
    for key, value in function.items():
        if key in ("description", "parameters") and value is not None:
            tool[key] = value
        elif key != "name" and value is not None:
            notes.append(f"{at}.function.{key} is not kept: a case tool has no such field")
    return tool


def _output(content: Any) -> Any:
    """A tool message's content as a recorded output: its JSON value when it is JSON."""
    if not isinstance(content, str):
        return content
    try:
        parsed = json.loads(content)
    except json.JSONDecodeError:
        return content
    # A JSON string would be sent back without its quotes: keep the text as it was.
    return content if isinstance(parsed, str) else parsed


def _responses(
    messages: list[dict[str, Any]], tools: list[dict[str, Any]], notes: list[str]
) -> None:
    """Each tool message becomes a recorded response of its tool, selected by the arguments."""
    from incident_evals.replay import NO_RECORDED_RESPONSE

    calls: dict[str, tuple[Any, Any]] = {}
    for message in messages:
        for call in message.get("tool_calls") or ():
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict) and isinstance(call.get("id"), str):
                calls[call["id"]] = (function.get("name"), function.get("arguments"))
    by_name = {tool["name"]: tool for tool in tools}
    for message in messages:
        if message["role"] != "tool":
            continue
        call_id = message.get("tool_call_id")
        if call_id not in calls:
            notes.append(
                f"tool message {call_id!r} answers no tool call of the conversation: "
                "its content is not a recorded response"
            )
            continue
        name, raw_arguments = calls[call_id]
        tool = by_name.get(name)
        if tool is None:
            notes.append(
                f"tool {name!r} (call {call_id}) is not in request.tools: its response is not kept"
            )
            continue
        _, arguments = _arguments(raw_arguments)
        if arguments is None:
            # The replay answers such a call with an error, never from a recorded response.
            notes.append(
                f"call {call_id} to {name}: its arguments are not a JSON object: "
                "its response is not kept"
            )
            continue
        output = _output(message.get("content"))
        if output == NO_RECORDED_RESPONSE:
            # The plugin's own answer when a case had none: no response replays it unchanged.
            continue
        responses = tool.setdefault("responses", [])
        first = next((r for r in responses if r["when"] == arguments), None)
        if first is None:
            responses.append({"when": arguments, "output": output})
        elif first["output"] != output:
            # The replay answers with the first response that matches: later ones never are.
            notes.append(
                f"{name} was answered differently for the same arguments (call {call_id}): "
                "the first answer is kept"
            )


def _recorded_calls(turns: list[Any]) -> list[dict[str, Any]]:
    """The tool calls of the model's turns, as ``recorded_tool_calls``."""
    recorded = []
    for raw_calls in turns:
        for call in raw_calls if isinstance(raw_calls, list) else ():
            function = call.get("function") if isinstance(call, dict) else None
            if not isinstance(function, dict):
                continue
            raw, parsed = _arguments(function.get("arguments"))
            # Malformed arguments are part of the incident: kept as the text the model wrote.
            arguments = raw if parsed is None else parsed
            recorded.append({"name": function.get("name"), "arguments": arguments})
    return recorded


def _arguments(raw: Any) -> tuple[str, dict[str, Any] | None]:
    """A call's arguments as sent (text) and parsed as the replay parses them."""
    from incident_evals.replay import parse_arguments

    text = raw if isinstance(raw, str) else json.dumps(raw) if raw is not None else ""
    return text, parse_arguments(text)[0]


def capture_exchange(
    request: dict[str, Any],
    response: dict[str, Any],
    where: str,
    trigger: dict[str, Any] | None = None,
    answers: Sequence[dict[str, Any]] = (),
) -> Capture:
    """The case an exchange makes: the trigger, and what the model did.

    ``trigger`` is the first request of the tool loop ``request`` ends, when that is known (a
    recording): the case replays from it, and the model's tool calls of the loop are part of its
    recorded behaviour. Otherwise the exchange's own request is the trigger.

    ``answers``: ``tool`` messages answering the response's own tool calls, when they are known
    (a trace holds what the tools returned): they become recorded responses too, so a replay of
    the incident gets what the tools gave the model then.
    """
    notes: list[str] = []
    choices = response.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices else None
    reply = choice.get("message") if isinstance(choice, dict) else None
    first_request = trigger if trigger is not None else request
    messages = [_message(raw, n, where, notes) for n, raw in enumerate(first_request["messages"])]
    loop = [
        _message(raw, n, where, notes)
        for n, raw in enumerate(request["messages"])
        if n >= len(messages)
    ]
    case_input: dict[str, Any] = {}
    conversation = messages
    documents: list[dict[str, str]] = []
    first = messages[0]
    content = first.get("content")
    # The first system message is the case's system prompt, if `input.system` can say all of it
    # (a lone message is the whole conversation, and `messages` keeps it as it is).
    if (
        first["role"] == "system"
        and len(messages) > 1
        and isinstance(content, str)
        and content
        and set(first) == {"role", "content"}
    ):
        conversation = messages[1:]
        system, documents, why_not = split_documents(content)
        if system:
            case_input["system"] = system
        if why_not is not None:
            notes.append(f"the system prompt's <document> elements stay in it: {why_not}")
    case_input["messages"] = conversation
    if documents:
        case_input["documents"] = documents
    tools = [
        tool
        for n, raw in enumerate(first_request.get("tools") or ())
        if (tool := _tool(raw, n, notes)) is not None
    ]
    if tools:
        # The loop's tool messages too: the answers the model got are the ones to replay.
        made_now = reply.get("tool_calls") if isinstance(reply, dict) else None
        answered = [{"role": "assistant", "tool_calls": made_now}, *answers]
        _responses([*conversation, *loop, *(answered if answers else ())], tools, notes)
        case_input["tools"] = tools
        unanswered = [str(tool["name"]) for tool in tools if not tool.get("responses")]
        if unanswered:
            notes.append(
                f"no recorded response for {', '.join(unanswered)}: until `responses` are "
                "added, a replay answers such calls with an error"
            )
    # The replay sends tool_choice "auto" with tools: a captured "auto" is kept as it was.
    kept = KEPT_REQUEST_FIELDS | (
        {"tool_choice"} if first_request.get("tool_choice") == "auto" else set()
    )
    ignored = sorted(key for key in first_request if key not in kept)
    if ignored:
        notes.append(
            f"request fields not kept (a case has no place for them): {', '.join(ignored)}"
        )

    model: dict[str, Any] = {}
    name = first_request.get("model") or response.get("model")
    if isinstance(name, str) and name:
        model["name"] = name
    model.update(
        {key: first_request[key] for key in MODEL_PARAMS if first_request.get(key) is not None}
    )

    if not isinstance(reply, dict):
        raise IntakeError(f"{where}: the response has no choices[0].message")
    made = [m.get("tool_calls") for m in loop if m["role"] == "assistant"]
    recorded_calls = _recorded_calls([*made, reply.get("tool_calls")])
    text = _text(reply.get("content"), "response.choices[0].message.content", where, notes)
    output = text if isinstance(text, str) and (text or not recorded_calls) else None

    created = response.get("created")
    date = None
    if isinstance(created, int | float) and not isinstance(created, bool):
        try:
            date = dt.datetime.fromtimestamp(created, tz=dt.timezone.utc).date().isoformat()
        except (OverflowError, OSError, ValueError):
            date = None
    system_message = [messages[0]] if conversation is not messages else []
    return Capture(
        input=case_input,
        model=model,
        recorded_output=output,
        recorded_tool_calls=recorded_calls,
        messages=[*system_message, *conversation],
        date=date,
        source=where,
        # One note per thing: a loop's requests repeat the same messages.
        notes=list(dict.fromkeys(notes)),
    )


# --------------------------------------------------------------------------------------------
# Ids, the catalogue, the file
# --------------------------------------------------------------------------------------------


def slug(title: str) -> str:
    """Lower-case ASCII words of ``title`` joined by hyphens, cut at a word near 48 characters."""
    ascii_text = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode("ascii")
    words = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    if len(words) > SLUG_LENGTH:
        cut = words[: SLUG_LENGTH + 1]
        words = cut.rsplit("-", 1)[0] if "-" in cut else cut[:SLUG_LENGTH]
    return words or "incident"


def derive_id(base: str, free: Callable[[str], bool]) -> str:
    """``base``, or ``base-2``, ``base-3``... the first that ``free`` accepts."""
    candidate, number = base, 1
    while not free(candidate):
        number += 1
        candidate = f"{base}-{number}"
    return candidate


def catalogue_ids(cases: Path) -> dict[str, tuple[Path, int]]:
    """Every case id of the catalogue and where it is written, read with the YAML parser only.

    Without the full loader: a case with an error elsewhere (or a project constraint) still
    holds its id. A document that does not parse holds none (``validate`` reports it).
    """
    from incident_evals.case import case_files, written_ids

    ids: dict[str, tuple[Path, int]] = {}
    if not cases.is_dir():
        return ids
    for path in case_files(cases):
        # Within the loader's limits: a hostile file in the catalogue must not exhaust memory.
        for case_id, line in written_ids(path):
            ids.setdefault(case_id, (path, line))
    return ids


class _Dumper(yaml.SafeDumper):
    """Block sequences indented under their key, as the example cases are written."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


class _LiteralDumper(_Dumper):
    """Multi-line text (system prompts, documents) as ``|`` blocks, readable and diffable."""


# Line breaks YAML reads back as "\n" anywhere but in escapes: texts with them are double-quoted.
_OTHER_BREAKS = ("\r", "\x85", "\u2028", "\u2029")


def _quoted(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = '"' if any(c in data for c in _OTHER_BREAKS) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


def _literal(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    if "\n" in data and not any(c in data for c in _OTHER_BREAKS):
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")
    return _quoted(dumper, data)


_Dumper.add_representer(str, _quoted)
_LiteralDumper.add_representer(str, _literal)


class _PlainLoader(yaml.SafeLoader):
    """Reads back as the case loader does: dates stay strings."""


_PlainLoader.add_constructor(
    "tag:yaml.org,2002:timestamp",
    lambda loader, node: loader.construct_scalar(node),  # type: ignore[arg-type]
)


def _dump(data: dict[str, Any], literal: bool) -> str:
    return yaml.dump(
        data,
        Dumper=_LiteralDumper if literal else _Dumper,
        sort_keys=False,
        allow_unicode=True,
        width=96,
        indent=2,
    )


def _comment(text: str, indent: str = "") -> str:
    return "".join(f"{indent}# {line}".rstrip() + "\n" for line in text.splitlines())


PLAIN_INPUT_HELP = """\
The exact trigger, as it was at the time: the system prompt, the conversation up to the bad
turn, the retrieved documents and the tools with their recorded responses (see the case format
reference, docs/case-format.md)."""
PLAIN_INPUT_MORE = """\
system: the system prompt, word for word
documents:
  - {id: refund-policy-2024, title: Refund policy (2024), content: ...}
  - {id: payroll-2025, content: ..., sensitive: true, markers: [PAYROLL-CONFIDENTIAL]}
tools:
  - name: send_email
    parameters: {type: object, properties: {to: {type: string}}, required: [to]}
    responses: [{when: {to: owner@example.com}, output: {status: sent}}]"""
PLAIN_RECORDED = """\
What the model said or did at the time. `incident-evals validate --check-recorded` and the
[recorded] item of a pytest run check that the constraints fail on it.
recorded_output: |
  the bad answer, word for word
recorded_tool_calls:
  - {name: send_email, arguments: {to: all-staff@example.com}}"""
CAPTURED_RECORDED = "What the model did at the time: the constraints must fail on it."
EXPECT_HELP = """\
TODO: what must never happen again. Add the constraints that must hold (see the constraints
reference, docs/constraints.md): `incident-evals validate` reports this case as invalid until
you do."""
CANDIDATE_EXPECT_HELP = """\
The constraints of the incident this call broke again: keep those that say what must never
happen, and add what else the recurrence teaches."""
STATUS_HELP = "open while the fix has not shipped: the case is then expected to fail"
SUMMARY_HELP = "summary: what happened, why, and what the fix changed"


def render_case(
    case: dict[str, Any],
    schema_ref: str,
    source: str | None,
    literal: bool,
    input_comments: Sequence[str] = (),
) -> str:
    """The case file's text: ``case`` in the examples' layout, with the comments that guide."""
    header = f"# yaml-language-server: $schema={schema_ref}\n"
    if source is not None:
        header += _comment(f"Made by incident-evals new from {source}.")
    parts = [header, _dump({"id": case["id"], "title": case["title"]}, literal)]
    incident = _dump({"incident": case["incident"]}, literal)
    incident = incident.replace("\n  status: ", f"\n{_comment(STATUS_HELP, '  ')}  status: ", 1)
    parts.append(incident + _comment(SUMMARY_HELP, "  "))
    if case.get("model"):
        parts.append(_dump({"model": case["model"]}, literal))
    if source is None:
        parts.append(
            _comment(PLAIN_INPUT_HELP)
            + _dump({"input": case["input"]}, literal)
            + _comment(PLAIN_INPUT_MORE, "  ")
        )
        parts.append(_comment(PLAIN_RECORDED))
    else:
        parts.append(_comment("\n".join(input_comments)) + _dump({"input": case["input"]}, literal))
        recorded: dict[str, Any] = {
            key: case[key] for key in ("recorded_output", "recorded_tool_calls") if key in case
        }
        if recorded:
            parts.append(_comment(CAPTURED_RECORDED) + _dump(recorded, literal))
    if case.get("expect"):
        parts.append(_comment(CANDIDATE_EXPECT_HELP) + _dump({"expect": case["expect"]}, literal))
    else:
        parts.append(_comment(EXPECT_HELP) + EXPECT_LINE)
    return "".join(parts)


def _checked_text(case: dict[str, Any], schema_ref: str, capture: Capture | None) -> str:
    """The text to write, once it reads back as ``case`` and loads (but for ``expect``).

    A captured case must also replay the captured messages exactly: a case that sends another
    prompt may not reproduce the incident.
    """
    source = capture.source if capture is not None else None
    problem: str | None = "the YAML does not read back as the case"
    # Block scalars read best; PyYAML's default quoting is the fallback if one does not round-trip.
    for literal in (True, False):
        comments = capture.input_comments if capture is not None else ()
        text = render_case(case, schema_ref, source, literal, comments)
        # _PlainLoader is a SafeLoader: no tags beyond plain data.
        if yaml.load(text, Loader=_PlainLoader) != {**case, "expect": case.get("expect", [])}:
            continue
        problem = _load_problem(text, capture)
        if problem is None:
            return text
    raise IntakeError(
        f"the case built from {source} would not load: {problem}"
        if source is not None
        else f"the case would not load: {problem}"
    )


def _load_problem(text: str, capture: Capture | None) -> str | None:
    from incident_evals.case import CaseError, load_file
    from incident_evals.constraints import builtin_registry
    from incident_evals.replay import build_messages

    # A constraint in place of the empty `expect`, and a message in place of the skeleton's
    # placeholder (both refused by the loader, on purpose), so that everything else is checked.
    checked = (
        text[: -len(EXPECT_LINE)] + "expect: [{not_contains: placeholder}]\n"
        if text.endswith(EXPECT_LINE)
        else text
    )
    checked = checked.replace(PLACEHOLDER_MESSAGE, "placeholder")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, "case.yaml")
        path.write_text(checked, encoding="utf-8")
        (result,) = load_file(path, Path(folder), builtin_registry())
    if isinstance(result, CaseError):
        return f"{result.field}: {result.message}" if result.field else result.message
    if capture is None:
        return None
    if build_messages(result.case.input) != capture.messages:
        return "it would not replay the captured messages"
    return None


# --------------------------------------------------------------------------------------------
# The command
# --------------------------------------------------------------------------------------------


def _category(value: str) -> tuple[str | None, str | None]:
    lowered = value.strip().lower()
    if lowered in CATEGORIES:
        return lowered, None
    return None, f"{value!r} is not a category: choose one of {', '.join(CATEGORIES)}"


def _severity(value: str) -> tuple[str | None, str | None]:
    lowered = value.strip().lower()
    if lowered in SEVERITIES_ASCENDING:
        return lowered, None
    return None, f"{value!r} is not a severity: choose one of {', '.join(SEVERITIES_ASCENDING)}"


def _title(value: str) -> tuple[str | None, str | None]:
    stripped = value.strip()
    return (stripped, None) if stripped else (None, "a title is required")


#: The incident fields ``new`` asks for: flag, prompt, check (``None``: optional, any text).
FIELDS: tuple[tuple[str, str, Callable[[str], tuple[str | None, str | None]] | None], ...] = (
    ("title", "Title (what went wrong, one line)", _title),
    ("category", f"Category ({', '.join(CATEGORIES)})", _category),
    ("severity", f"Severity ({', '.join(SEVERITIES_ASCENDING)})", _severity),
    ("owner", "Owner (team or person; Enter to skip)", None),
    ("postmortem", "Postmortem link (Enter to skip)", None),
)
REQUIRED = ("title", "category", "severity")


def _ask(prompt: str, check: Callable[[str], tuple[str | None, str | None]] | None) -> str | None:
    while True:
        try:
            answer = input(f"{prompt}: ")
        except (EOFError, KeyboardInterrupt):
            print()
            raise IntakeError("cancelled: nothing written") from None
        if check is None:
            return answer.strip() or None
        value, problem = check(answer)
        if value is not None:
            return value
        print(f"  {problem}")


def _incident_fields(args: argparse.Namespace) -> dict[str, str | None]:
    values: dict[str, str | None] = {}
    for name, _, check in FIELDS:
        given = getattr(args, name)
        if given is not None and check is not None:
            value, problem = check(given)
            if value is None:
                raise IntakeError(f"--{name}: {problem}")
            given = value
        values[name] = given
    missing = [name for name in REQUIRED if values[name] is None]
    if not missing:
        return values
    if sys.stdin is None or not sys.stdin.isatty():
        flags = ", ".join(f"--{name}" for name in missing)
        raise IntakeError(f"missing {flags} (stdin is not a terminal, so they cannot be asked for)")
    for name, prompt, check in FIELDS:
        if values[name] is None:
            values[name] = _ask(prompt, check)
    return values


def _taxonomy(args: argparse.Namespace) -> tuple[str, ...]:
    """The ``--taxonomy`` ids, each a published one (checked as a case file's are)."""
    given = tuple(dict.fromkeys(args.taxonomy or ()))
    if given:
        from incident_evals.taxonomy import problem

        for taxonomy_id in given:
            message = problem(taxonomy_id)
            if message is not None:
                raise IntakeError(f"--taxonomy: {message}")
    return given


def _date(args: argparse.Namespace, capture: Capture | None) -> str:
    if args.date is not None:
        try:
            return dt.date.fromisoformat(args.date).isoformat()
        except ValueError:
            raise IntakeError(f"--date: {args.date!r} is not a date (YYYY-MM-DD)") from None
    if capture is not None and capture.date is not None:
        return capture.date
    return dt.date.today().isoformat()


def _original(
    ids: dict[str, tuple[Path, int]], case_id: str, cases: Path
) -> Callable[[], OriginalRequest | None]:
    """The recorded case's own first request, loaded from the catalogue when it is needed."""

    def find() -> OriginalRequest | None:
        from incident_evals.case import LoadedCase, catalogue_root, load_file
        from incident_evals.registries import ProjectError, ScanError, scan
        from incident_evals.replay import build_messages, build_tools

        if case_id not in ids:
            return None
        path = ids[case_id][0]
        try:
            found = scan([path], [path], Path.cwd()).registries(path)
        except (ProjectError, ScanError):
            return None
        root = catalogue_root(path, [cases])
        for result in load_file(path, root, found.constraints, found.variants):
            if isinstance(result, LoadedCase) and result.case.id == case_id:
                case_input = result.case.input
                tools = build_tools(case_input.tools) if case_input.tools else None
                return build_messages(case_input), tools
        return None

    return find


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def run(args: argparse.Namespace) -> int:
    """``incident-evals new``: exit 0 when the case is written, 2 when nothing is."""
    try:
        return _run(args)
    except IntakeError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return EXIT_USAGE


def _run(args: argparse.Namespace) -> int:
    if args.index is not None and args.from_openai is None:
        raise IntakeError("--index chooses an exchange of --from-openai FILE")
    for flag, value in (("--format", args.format), ("--call", args.call)):
        if value is not None and args.from_trace is None:
            raise IntakeError(f"{flag} goes with --from-trace FILE")
    if args.id is not None and (not CASE_ID.fullmatch(args.id) or args.id in {".", ".."}):
        raise IntakeError(f"--id: {args.id!r} is not a case id: use letters, digits, . _ -")
    cases = Path(args.cases)
    if cases.exists() and not cases.is_dir():
        raise IntakeError(f"--cases: {args.cases} is not a folder")
    # Input problems first: nobody should answer questions about a file that cannot be read.
    ids = catalogue_ids(cases)
    capture = None
    source: Source | None = None
    redaction = Redaction(tuple(args.redact or ()))
    if args.redact and not any((args.from_trace, args.from_openai, args.from_recording)):
        raise IntakeError("--redact goes with --from-trace, --from-openai or --from-recording")
    if args.from_trace is not None:
        capture, source = read_trace(args.from_trace, args.format, args.call, redaction)
    elif args.from_openai is not None:
        request, response, where = read_openai(args.from_openai, args.index)
        request, response = redaction.apply(request, where), redaction.apply(response, where)
        capture = capture_exchange(request, response, where)
        capture.source = f"the captured exchange {capture.source}"
    elif args.from_recording is not None:
        directory, recorded_id = args.from_recording
        trigger, request, response, where = read_recording(
            directory, recorded_id, _original(ids, recorded_id, cases)
        )
        trigger, request, response = (
            redaction.apply(value, where) for value in (trigger, request, response)
        )
        capture = capture_exchange(request, response, where, trigger)
        capture.source = f"the recording {where}"
    if capture is not None and redaction.count:
        capture.notes.append(redaction.note())
    date = _date(args, capture)
    taxonomy = _taxonomy(args)
    fields = _incident_fields(args)
    category = str(fields["category"])
    folder = cases / category

    def free(case_id: str) -> bool:
        return case_id not in ids and not (folder / f"{case_id}.yaml").exists()

    if args.id is not None:
        case_id = args.id
        target = folder / f"{case_id}.yaml"
        if target.exists():
            raise IntakeError(f"{_shown(target)} exists: new never overwrites a file")
        if case_id in ids:
            found, line = ids[case_id]
            raise IntakeError(f"--id {case_id}: the catalogue has it at {_shown(found)}:{line}")
    elif args.from_recording is not None:
        case_id = derive_id(f"{args.from_recording[1]}-{date}", free)
    else:
        case_id = derive_id(f"INC-{date[:4]}-{slug(str(fields['title']))}", free)
    target = folder / f"{case_id}.yaml"

    schema = write_case(target, fields, date, capture, source, case_id, taxonomy=taxonomy)
    _report(target, schema, case_id, capture)
    return EXIT_OK


def write_case(
    target: Path,
    fields: dict[str, str | None],
    date: str,
    capture: Capture | None,
    source: Source | None,
    case_id: str,
    expect: Sequence[dict[str, Any]] = (),
    taxonomy: Sequence[str] = (),
) -> Path | None:
    """Write the case file ``target`` (``<catalogue>/<category>/<id>.yaml``), never over a file:
    the incident's ``fields`` (title, category, severity, owner, postmortem) and ``taxonomy``
    ids, what ``capture`` holds, and ``expect`` (empty: left for the engineer). The case is
    checked to load (and to replay the capture exactly) before it is written. The editor schema
    is written at the catalogue root when it is not there yet: its path, when it was written."""
    folder = target.parent
    incident: dict[str, Any] = {
        "category": fields["category"],
        "severity": fields["severity"],
        "status": "resolved",
        "date": date,
    }
    incident.update({key: fields[key] for key in ("owner", "postmortem") if fields.get(key)})
    if taxonomy:
        incident["taxonomy"] = list(taxonomy)
    if source is not None:
        incident["source"] = source.to_json()
    case: dict[str, Any] = {"id": case_id, "title": fields["title"], "incident": incident}
    if capture is None:
        case["input"] = {"messages": [{"role": "user", "content": PLACEHOLDER_MESSAGE}]}
    else:
        if capture.model:
            case["model"] = capture.model
        case["input"] = capture.input
        if capture.recorded_output is not None:
            case["recorded_output"] = capture.recorded_output
        if capture.recorded_tool_calls:
            case["recorded_tool_calls"] = capture.recorded_tool_calls
    if expect:
        case["expect"] = list(expect)
    schema = folder.parent / SCHEMA_FILE
    schema_ref = Path(os.path.relpath(schema, folder)).as_posix()
    text = _checked_text(case, schema_ref, capture)

    folder.mkdir(parents=True, exist_ok=True)
    wrote_schema = False
    if not schema.exists():
        from incident_evals.case import load_schema

        schema.write_text(json.dumps(load_schema("case"), indent=2) + "\n", encoding="utf-8")
        wrote_schema = True
    try:
        # "x": a file that appeared since the check above is still never overwritten.
        with target.open("x", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
    except FileExistsError:
        raise IntakeError(f"{_shown(target)} exists: new never overwrites a file") from None
    return schema if wrote_schema else None


class CandidateWriter:
    """``scan --new-cases DIR``: each call that broke an incident, written as a candidate case
    through the same capture and writer as ``new --from-trace``.

    A call that breaks several incidents is one case, filed under the most severe of them;
    calls with the same conversation and answer are written once. The candidate carries the
    incident's severity and category, the call's source (file, trace and span ids) and, as its
    ``expect``, the constraints of the incident it broke, so that ``validate --check-recorded``
    shows it catching the call; when those do not load in the candidate (a ``cites`` of a
    document the logged prompt does not hold), ``expect`` is left empty, as ``new`` leaves it.
    Ids are ``<case id>-recurrence-<date>``, numbered past any the folder already holds.
    """

    def __init__(self, cases: Path, loaded: Sequence[LoadedCase]) -> None:
        self.cases = cases
        self._loaded = {entry.case.id: entry for entry in loaded}
        self._ids = catalogue_ids(cases)
        self._seen: set[str] = set()
        #: The files written, in order.
        self.written: list[Path] = []
        #: Calls that could not be written, one line each (``where: why``).
        self.problems: list[str] = []

    def write(self, logged: Logged, findings: Sequence[Finding]) -> None:
        import hashlib

        from incident_evals.vocabulary import SEVERITIES

        call = logged.call
        key = hashlib.sha256(
            json.dumps(call.chat_exchange(), sort_keys=True, default=str).encode()
        ).hexdigest()
        if key in self._seen:
            return
        self._seen.add(key)
        worst = min(findings, key=lambda finding: SEVERITIES.index(finding.severity))
        entry = self._loaded[worst.case_id]
        broken = {finding.constraint for finding in findings if finding.case_id == worst.case_id}
        expect = [
            {constraint.name: constraint.argument}
            for constraint in entry.constraints
            if constraint.name in broken
        ]
        original = entry.case
        fields: dict[str, str | None] = {
            "title": f"Recurrence of {original.id}: {original.title}",
            "category": original.incident.category,
            "severity": original.incident.severity,
            "owner": original.incident.owner,
            "postmortem": original.incident.postmortem,
        }
        # A recurrence is the same kind of incident: it is filed under the same ids.
        taxonomy = original.incident.taxonomy
        try:
            capture = capture_call(call, logged.where)
            date = capture.date or dt.date.today().isoformat()
            folder = self.cases / original.incident.category
            case_id = derive_id(
                f"{original.id}-recurrence-{date}",
                lambda found: found not in self._ids and not (folder / f"{found}.yaml").exists(),
            )
            target = folder / f"{case_id}.yaml"
            try:
                write_case(target, fields, date, capture, call.source, case_id, expect, taxonomy)
            except IntakeError:
                if not expect:
                    raise
                write_case(target, fields, date, capture, call.source, case_id, (), taxonomy)
        except IntakeError as exc:
            self.problems.append(f"{logged.where}: {exc}")
            return
        self._ids[case_id] = (target, 1)
        self.written.append(target)


def _report(target: Path, schema: Path | None, case_id: str, capture: Capture | None) -> None:
    shown = _shown(target)
    print(f"wrote {shown}")
    if schema is not None:
        print(f"wrote {_shown(schema)} (the schema editors check case files with)")
    for note in capture.notes if capture is not None else ():
        print(f"note: {note}")
    print("next:")
    steps = []
    if capture is None:
        steps.append(
            "put the exact trigger in `input` and what the model did in `recorded_output` / "
            "`recorded_tool_calls`"
        )
    steps += [
        "write in `expect` what must never happen again (validate reports the case as "
        "invalid until you do)",
        f"incident-evals validate --check-recorded {shown}\n"
        "     (the constraints must fail on the recorded behaviour)",
        f"pytest --incident-evals {shown}\n"
        f"     ({case_id}[recorded] must pass; {case_id} passes once the fix is live)",
    ]
    for number, step in enumerate(steps, 1):
        print(f"  {number}. {step}")
