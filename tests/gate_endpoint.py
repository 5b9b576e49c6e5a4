"""The scripted endpoint of the upgrade-gate tests: a baseline model and a candidate."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chat_server import Reply


def candidate_breaks(*cases: str) -> Callable[[dict[str, Any]], Reply]:
    """Every case (asked ``question for <case id>``) answered well ("30 days"), except ``cases``
    when the ``candidate`` model is asked ("60 days")."""

    def respond(body: dict[str, Any]) -> Reply:
        case = str(body["messages"][-1]["content"]).removeprefix("question for ")
        bad = body["model"] == "candidate" and case in cases
        return Reply(content="You have 60 days." if bad else "You have 30 days.")

    return respond
