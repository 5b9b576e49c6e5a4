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
    #: True when the tool loop stopped at ``max_turns`` with calls still pending.
    truncated: bool = False

    def add_usage(self, usage: dict[str, Any] | None) -> None:
        for key, value in (usage or {}).items():
            if isinstance(value, int):
                self.usage[key] = self.usage.get(key, 0) + value

    def to_json(self) -> dict[str, Any]:
        return {
            "final_text": self.final_text,
            "tool_calls": [call.to_json() for call in self.tool_calls],
            "usage": dict(self.usage),
            "latency_s": self.latency_s,
            "model": self.model,
            "finish_reason": self.finish_reason,
            "truncated": self.truncated,
            "exchanges": [
                {"request": ex.request, "response": ex.response, "latency_s": ex.latency_s}
                for ex in self.exchanges
            ],
        }
