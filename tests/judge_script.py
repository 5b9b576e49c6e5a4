"""Reading the judge's requests on the scripted server: which are the judge's, what they show."""

from __future__ import annotations

from typing import Any


def is_judge_request(body: dict[str, Any]) -> bool:
    first = body["messages"][0]
    return first["role"] == "system" and "strict evaluator" in first["content"]


def judged_reply(body: dict[str, Any]) -> str:
    """The assistant reply a judge request shows the judge."""
    user: str = body["messages"][1]["content"]
    return user.split("<reply>\n", 1)[1].split("\n</reply>", 1)[0]
