"""The integration example of docs/guardrails-and-monitoring.md, run as written: the real
``openai`` SDK against the scripted endpoint, the guard around it."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from chat_server import ChatServer, Reply, ToolCallSpec

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs" / "guardrails-and-monitoring.md"

EMAIL_REQUEST = (
    "Please send the Q3 forecast draft to the finance team so they can review it before Friday."
)
SEND = {"name": "send_email", "description": "Send an email.", "parameters": {"type": "object"}}
TOOLS = [{"type": "function", "function": SEND}]


def example() -> dict[str, Any]:
    """The page's example, executed from the repository's root (it loads incident_cases)."""
    text = DOCS.read_text("utf-8")
    section = text[text.index("## Wrapping an `openai` call") :]
    [code] = re.findall(r"```python\n(.*?)```", section[: section.index("\n## ", 3)], re.DOTALL)
    namespace: dict[str, Any] = {}
    exec(compile(code, str(DOCS), "exec"), namespace)
    return namespace


@pytest.fixture(scope="module")
def wrapped() -> Iterator[dict[str, Any]]:
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(REPO)
        yield example()


@pytest.fixture
def server() -> Iterator[ChatServer]:
    with ChatServer() as running:
        yield running


def client(server: ChatServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0)


def send(to: str) -> ToolCallSpec:
    return {"name": "send_email", "arguments": {"to": to, "subject": "Q3 draft", "body": "Draft."}}


def lookup() -> ToolCallSpec:
    return {"name": "lookup_group", "arguments": {"query": "finance team"}}


class Tools:
    """The application's tools: each call is recorded, none does anything."""

    def __init__(self, output: dict[str, Any]) -> None:
        self.ran: list[str] = []
        self.output = output

    def __call__(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        self.ran.append(name)
        return self.output


def test_the_send_to_all_staff_never_reaches_the_tool(
    wrapped: dict[str, Any], server: ChatServer
) -> None:
    server.set_script(
        [Reply(tool_calls=[lookup()]), Reply(tool_calls=[send("all-staff@acme.example")])]
    )
    tools = Tools({"matches": []})

    with pytest.raises(wrapped["Blocked"]) as blocked:
        wrapped["answer"](
            client(server), "m", [{"role": "user", "content": EMAIL_REQUEST}], TOOLS, tools
        )

    assert tools.ran == ["lookup_group"]
    assert blocked.value.stage == "tool_call"
    assert str(blocked.value) == "tool_call blocked (INC-2025-067-q3-draft-all-staff: tool_args)"
    assert len(server.requests) == 2


def test_a_good_tool_loop_answers(wrapped: dict[str, Any], server: ChatServer) -> None:
    final = "Sent the Q3 forecast draft to finance-team@acme.example for review before Friday."
    server.set_script(
        [
            Reply(tool_calls=[lookup()]),
            Reply(tool_calls=[send("finance-team@acme.example")]),
            Reply(content=final),
        ]
    )
    tools = Tools({"status": "sent"})

    text = wrapped["answer"](
        client(server), "m", [{"role": "user", "content": EMAIL_REQUEST}], TOOLS, tools
    )

    assert text == final
    assert tools.ran == ["lookup_group", "send_email"]
    # The tool answers went back to the model as the loop appended them.
    last = server.requests[-1].body["messages"]
    assert [m["role"] for m in last] == ["user", "assistant", "tool", "assistant", "tool"]
    assert json.loads(last[-1]["content"]) == {"status": "sent"}


def test_a_stale_refund_answer_is_never_shown(wrapped: dict[str, Any], server: ChatServer) -> None:
    server.set_script([Reply(content="Yes, you have 60 days to ask for a refund.")])
    question = "Is there any way to get a refund on my blender?"

    with pytest.raises(wrapped["Blocked"]) as blocked:
        wrapped["answer"](client(server), "m", [{"role": "user", "content": question}], [], print)

    assert blocked.value.stage == "output"
    assert [f.constraint for f in blocked.value.result.findings] == ["not_contains", "contains_any"]
    # No tools: none were offered to the model.
    assert "tools" not in server.requests[0].body
