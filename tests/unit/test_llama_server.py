"""The llama_cpp.server launcher caps chatml-function-calling's tool-argument generation."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest

from embedded_model import require_local_model
from incident_evals.local_model import LocalModelServer

# An array of free strings is what a small model keeps filling without a cap.
TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "send_email",
            "description": "Send an email with attachments.",
            "parameters": {
                "type": "object",
                "properties": {
                    "to": {"type": "string"},
                    "attachment_ids": {"type": "array", "items": {"type": "string"}},
                },
                "required": ["to", "attachment_ids"],
            },
        },
    }
]


@pytest.fixture(scope="module")
def client() -> Iterator[openai.OpenAI]:
    require_local_model()
    with LocalModelServer() as server:
        yield openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0, timeout=60)


def test_tool_arguments_stop_at_the_requests_max_tokens(client: openai.OpenAI) -> None:
    # Uncapped, SmolLM2 fills the array until the context (thousands of tokens) is full.
    # Plain JSON, as the replay sends it.
    request: dict[str, Any] = {
        "model": LocalModelServer.MODEL_ALIAS,
        "messages": [
            {"role": "system", "content": "You send emails."},
            {"role": "user", "content": "Send the Q3 draft and all annexes to finance."},
        ],
        "tools": TOOLS,
        "tool_choice": "auto",
        "max_tokens": 4,
        "temperature": 0,
    }
    reply = client.chat.completions.create(**request)

    calls = reply.choices[0].message.tool_calls or []
    assert calls, reply.model_dump_json()
    for call in calls:
        assert call.type == "function"
        # At most MIN_CAP (32) tokens of JSON.
        assert len(call.function.arguments) < 250, call.function.arguments
