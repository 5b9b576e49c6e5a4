"""What a case file becomes: :class:`IncidentCase` and its parts.

Plain frozen data, with no reading of files in it (that is :mod:`incident_evals.case`), so that
the constraints and variant generators that take a case can import it without the loader, which
imports them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from incident_evals.traces import Source
from incident_evals.vocabulary import REGENERATE

__all__ = [
    "DEFAULT_DOCUMENT_TEMPLATE",
    "DEFAULT_MAX_TURNS",
    "AcceptedOutput",
    "Action",
    "ArgumentMatch",
    "CaseInput",
    "ConstraintSpec",
    "Document",
    "GeneratorSpec",
    "GuardCondition",
    "GuardSpec",
    "HandWrittenVariant",
    "Incident",
    "IncidentCase",
    "RecordedResponse",
    "Runs",
    "SensitiveSource",
    "Tool",
    "VariantsSpec",
    "assistant_turns",
    "generated_turns",
]

DEFAULT_DOCUMENT_TEMPLATE = '<document id="{id}" title="{title}">{content}</document>'
DEFAULT_MAX_TURNS = 8


@dataclass(frozen=True)
class Document:
    id: str
    content: str
    title: str = ""
    sensitive: bool = False
    markers: tuple[str, ...] = ()


@dataclass(frozen=True)
class ArgumentMatch:
    """One entry of a ``match``: the argument's string value holds ``regex``, or its value is
    valid under ``schema`` (exactly one of the two is set)."""

    argument: str
    regex: str | None = None
    schema: dict[str, Any] | None = None


@dataclass(frozen=True)
class RecordedResponse:
    output: Any
    #: Subset of the parsed arguments that selects this response.
    when: dict[str, Any] | None = None
    #: Per-argument regex or JSON Schema conditions (``match``).
    match: tuple[ArgumentMatch, ...] = ()
    #: Answers at most this many calls of a sample, then the next response applies.
    times: int | None = None
    #: State variables that must hold these values.
    when_state: dict[str, str] | None = None
    #: State variables this response sets once it has answered.
    set_state: dict[str, str] | None = None
    #: Its output is secret once the replay returns it to the model (``no_leak``, ``links``).
    sensitive: bool = False
    markers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Tool:
    name: str
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})
    responses: tuple[RecordedResponse, ...] = ()
    #: ``"module:function"`` answering every call instead of ``responses`` (project code).
    python: str | None = None


@dataclass(frozen=True)
class CaseInput:
    messages: tuple[dict[str, Any], ...]
    system: str | None = None
    documents: tuple[Document, ...] = ()
    document_template: str | None = None
    tools: tuple[Tool, ...] = ()
    #: ``last``: only the reply after the last message is generated; ``all``: every assistant
    #: turn of ``messages`` is generated too (see :func:`generated_turns`).
    regenerate: str = REGENERATE[0]
    #: ``system: {content: ..., sensitive: true, markers: [...]}``: the prompt itself is secret.
    system_sensitive: bool = False
    system_markers: tuple[str, ...] = ()

    def sensitive_sources(self) -> tuple[SensitiveSource, ...]:
        """Everything marked sensitive, in a fixed order: the system prompt, the documents,
        then each tool's responses (declared: whether a response was returned is per sample)."""
        sources: list[SensitiveSource] = []
        if self.system_sensitive and self.system:
            sources.append(
                SensitiveSource(
                    SYSTEM_PROMPT_SOURCE,
                    "the sensitive system prompt",
                    self.system,
                    self.system_markers,
                )
            )
        sources.extend(
            SensitiveSource(doc.id, f"sensitive document {doc.id!r}", doc.content, doc.markers)
            for doc in self.documents
            if doc.sensitive
        )
        for tool in self.tools:
            for index, response in enumerate(tool.responses, start=1):
                if response.sensitive:
                    sources.append(
                        SensitiveSource(
                            f"{tool.name} response {index}",
                            f"sensitive response {index} of tool {tool.name!r}",
                            response_text(response.output),
                            response.markers,
                            (tool.name, response.output),
                        )
                    )
        return tuple(sources)


#: The id of the system prompt among sensitive sources (what ``[redacted: ...]`` names).
SYSTEM_PROMPT_SOURCE = "system prompt"


def response_text(output: Any) -> str:
    """A recorded tool output as the model is shown it."""
    if isinstance(output, str):
        return output
    # YAML dates and the like become strings.
    return json.dumps(output, ensure_ascii=False, default=str)


@dataclass(frozen=True)
class SensitiveSource:
    """One secret of a case: a sensitive document, the system prompt or a tool response."""

    #: The document id, ``system prompt`` or ``<tool> response <n>``: what redaction names.
    id: str
    #: How messages name it: ``sensitive document 'payroll'``.
    label: str
    content: str
    markers: tuple[str, ...] = ()
    #: For a tool response, ``(tool name, recorded output)``: it is secret only in samples where
    #: the replay returned that output to the model.
    response: tuple[str, Any] | None = None


@dataclass(frozen=True)
class Action:
    """One follow-up action of the postmortem (``incident.actions``)."""

    description: str
    owner: str | None = None
    #: ISO date, as written.
    due: str | None = None
    #: ``open``, ``done`` or ``dropped``.
    status: str = "open"
    ticket: str | None = None
    line: int = 0


@dataclass(frozen=True)
class Incident:
    category: str
    severity: str
    status: str = "resolved"
    date: str | None = None
    owner: str | None = None
    postmortem: str | None = None
    summary: str | None = None
    tags: tuple[str, ...] = ()
    #: Published ids of the failure (OWASP LLM/agentic top 10, MITRE ATLAS, AVID), as written.
    taxonomy: tuple[str, ...] = ()
    #: The trace the case was built from (``new --from-trace``).
    source: Source | None = None
    #: The postmortem's record: ISO dates as written (checked to run date <= detected <=
    #: mitigated <= resolved), the impact, and the follow-up actions.
    detected: str | None = None
    mitigated: str | None = None
    resolved: str | None = None
    impact: str | None = None
    actions: tuple[Action, ...] = ()


@dataclass(frozen=True)
class ConstraintSpec:
    """One entry of ``expect`` as written: ``{name: argument}``, with where it was written."""

    name: str
    argument: Any
    line: int
    #: ``turn: N`` written beside it: the Nth generated assistant turn (1-based) is judged.
    turn: int | None = None
    #: ``any_turn: true`` written beside it: every generated turn is judged.
    any_turn: bool = False


@dataclass(frozen=True)
class GeneratorSpec:
    """One entry of ``variants.generate``: ``{name: options}``, ``count`` taken out."""

    name: str
    options: dict[str, Any]
    count: int
    line: int


@dataclass(frozen=True)
class HandWrittenVariant:
    """One entry of ``variants.cases``: the case's input with the given fields replaced."""

    name: str
    input: CaseInput
    #: Its own constraints, when it overrides the case's ``expect``.
    expect: tuple[ConstraintSpec, ...] | None
    line: int


@dataclass(frozen=True)
class VariantsSpec:
    generate: tuple[GeneratorSpec, ...] = ()
    cases: tuple[HandWrittenVariant, ...] = ()


@dataclass(frozen=True)
class Runs:
    repeats: int = 1
    min_pass_rate: float = 1.0
    max_turns: int = DEFAULT_MAX_TURNS
    #: Where ``runs.max_turns`` is written, if it is.
    max_turns_line: int | None = None
    #: ``any_failure`` or ``pass_rate``; ``None``: ``any_failure`` for critical cases.
    gate: str | None = None

    def gate_for(self, severity: str) -> str:
        """How a regression is decided: as written, else one failing sample is enough for a
        critical case (a leak or a forbidden call) and pass rates are compared for the rest."""
        if self.gate is not None:
            return self.gate
        return "any_failure" if severity == "critical" else "pass_rate"


@dataclass(frozen=True)
class AcceptedOutput:
    """One entry of ``accepted_outputs``: a known-good answer, written after the fix."""

    output: str
    tool_calls: tuple[dict[str, Any], ...] = ()
    #: False for a plain string: its tool calls were not written, so nothing reads them.
    tool_calls_given: bool = False
    line: int = 0


#: ``guard.applies``: the case's own conversations (and ``when``), only ``when``, every
#: conversation, or none.
GUARD_APPLIES = ("matching", "only_when", "always", "never")


@dataclass(frozen=True)
class GuardCondition:
    """One condition of ``guard.when``: every field that is set must hold."""

    #: A pattern (Python ``re``) searched in the last user message, both normalised as text
    #: constraints normalise them.
    user_matches: str | None = None
    #: The conversation calls one of these tools (the call being checked included).
    tool_called: tuple[str, ...] = ()
    #: The constraints (by name) that apply where it holds; empty: all of the case's.
    constraints: tuple[str, ...] = ()
    line: int = 0


@dataclass(frozen=True)
class GuardSpec:
    """The case's ``guard:`` block: where the runtime guard applies its constraints."""

    applies: str = GUARD_APPLIES[0]
    #: Any of them holding is enough.
    when: tuple[GuardCondition, ...] = ()
    #: Constraint names the guard never runs.
    exclude: tuple[str, ...] = ()
    line: int = 0


@dataclass(frozen=True)
class IncidentCase:
    id: str
    incident: Incident
    input: CaseInput
    expect: tuple[ConstraintSpec, ...]
    path: Path
    line: int
    title: str = ""
    #: Model params recorded with the incident (``name`` is the record only, never sent).
    model: dict[str, Any] = field(default_factory=dict)
    recorded_output: str | None = None
    recorded_tool_calls: tuple[dict[str, Any], ...] = ()
    accepted_outputs: tuple[AcceptedOutput, ...] = ()
    variants: VariantsSpec = field(default_factory=VariantsSpec)
    runs: Runs = field(default_factory=Runs)
    guard: GuardSpec = field(default_factory=GuardSpec)

    def document(self, doc_id: str) -> Document | None:
        return next((doc for doc in self.input.documents if doc.id == doc_id), None)

    def tool(self, name: str) -> Tool | None:
        return next((tool for tool in self.input.tools if tool.name == name), None)


def assistant_turns(messages: tuple[dict[str, Any], ...]) -> list[tuple[int, int]]:
    """The recorded assistant turns of ``messages``, each as ``(start, end)`` indexes.

    One assistant turn is a run of assistant and tool messages between two user (or system)
    messages: the assistant's reply, with the tool calls it made and their responses on the
    way. Under ``regenerate: all`` each such run is replaced by one generated reply.
    """
    turns: list[tuple[int, int]] = []
    start: int | None = None
    for index, message in enumerate(messages):
        if message.get("role") in ("assistant", "tool"):
            if start is None:
                start = index
        elif start is not None:
            turns.append((start, index))
            start = None
    if start is not None:
        turns.append((start, len(messages)))
    return turns


def generated_turns(case_input: CaseInput) -> int:
    """How many assistant turns a sample generates: one per recorded assistant turn under
    ``regenerate: all``, and the final reply after the last message."""
    if case_input.regenerate != "all":
        return 1
    return len(assistant_turns(case_input.messages)) + 1
