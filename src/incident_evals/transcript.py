"""What one sample of one item did: every exchange with the endpoint, and what constraints judge."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ToolCall:
    """One tool call the model made, answered from the case's recorded responses."""

    id: str
    name: str
    arguments_raw: str
    #: The parsed arguments; ``None`` when ``arguments_raw`` is not a JSON object.
    arguments: dict[str, Any] | None
    #: Why the arguments could not be parsed, if they could not.
    arguments_error: str | None = None
    #: The recorded response the replay answered with.
    output: Any = None
    #: False for calls made after ``max_turns``, which the replay no longer answers.
    answered: bool = True

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "arguments": self.arguments,
            "arguments_raw": self.arguments_raw,
            "arguments_error": self.arguments_error,
            "output": self.output,
            "answered": self.answered,
        }


@dataclass(frozen=True)
class Judgement:
    """What an LLM judge said about this sample under one rubric."""

    rubric: str
    #: The ``model`` the constraint names, ``None`` for the configured judge model.
    constraint_model: str | None
    #: The model named in the judge request.
    requested_model: str
    #: The model id the judge endpoint reported.
    model: str | None
    holds: bool
    reason: str
    prompt_version: int
    #: True when the verdict came from the judge cache rather than a new request.
    cached: bool = False
    #: How many times the verdict was sampled, and how many samples agree with it.
    samples: int = 1
    agreeing: int = 1

    def to_json(self) -> dict[str, Any]:
        return {
            "rubric": self.rubric,
            "constraint_model": self.constraint_model,
            "requested_model": self.requested_model,
            "model": self.model,
            "holds": self.holds,
            "reason": self.reason,
            "prompt_version": self.prompt_version,
            "cached": self.cached,
            "samples": self.samples,
            "agreeing": self.agreeing,
        }


@dataclass
class Exchange:
    """One request to the endpoint and the reply it gave."""

    request: dict[str, Any]
    response: dict[str, Any]
    latency_s: float


@dataclass
class Transcript:
    exchanges: list[Exchange] = field(default_factory=list)
    tool_calls: list[ToolCall] = field(default_factory=list)
    #: The content of the last assistant reply ("" when it had none).
    final_text: str = ""
    usage: dict[str, int] = field(default_factory=dict)
    latency_s: float = 0.0
    #: The model id the endpoint reported (not the one requested).
    model: str | None = None
    finish_reason: str | None = None
    #: The API the replay spoke: ``chat`` (Chat Completions) or ``responses``. The exchanges
    #: hold the Chat form either way (the form the replay reads).
    api: str = "chat"
    #: True when the tool loop stopped at ``max_turns`` with calls still pending.
    truncated: bool = False
    #: Verdicts of the LLM judge, one per ``judge`` constraint, made after the replay.
    judgements: list[Judgement] = field(default_factory=list)
    #: Under ``input.regenerate: all``, each generated assistant turn in order, as a transcript
    #: of its own (its exchanges, its tool calls, its text); empty otherwise. The transcript
    #: itself holds them all: every exchange and tool call, the final turn's text.
    turns: list[Transcript] = field(default_factory=list)

    def judgement(
        self, rubric: str, constraint_model: str | None, samples: int = 1
    ) -> Judgement | None:
        return next(
            (
                j
                for j in self.judgements
                if j.rubric == rubric
                and j.constraint_model == constraint_model
                and j.samples == samples
            ),
            None,
        )

    def add_usage(self, usage: dict[str, Any] | None) -> None:
        for key, value in (usage or {}).items():
            # bool is an int to Python, not a count.
            if isinstance(value, int) and not isinstance(value, bool):
                self.usage[key] = self.usage.get(key, 0) + value

    def to_json(self) -> dict[str, Any]:
        return {
            "final_text": self.final_text,
            "tool_calls": [call.to_json() for call in self.tool_calls],
            "usage": dict(self.usage),
            "latency_s": self.latency_s,
            "model": self.model,
            "finish_reason": self.finish_reason,
            "api": self.api,
            "truncated": self.truncated,
            "judgements": [judgement.to_json() for judgement in self.judgements],
            "exchanges": [
                {"request": ex.request, "response": ex.response, "latency_s": ex.latency_s}
                for ex in self.exchanges
            ],
            "turns": self.turns_json(),
        }

    def turns_json(self) -> list[dict[str, Any]]:
        """Each generated turn: its number, text and tool calls (its exchanges are among the
        transcript's, not repeated)."""
        return [
            {
                "turn": number,
                "output": turn.final_text,
                "tool_calls": [call.to_json() for call in turn.tool_calls],
                "finish_reason": turn.finish_reason,
                "truncated": turn.truncated,
            }
            for number, turn in enumerate(self.turns, 1)
        ]
