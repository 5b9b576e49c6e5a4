"""Chat Completions exchanges made by the real openai SDK against the scripted test server, and
trace files built from them (JSON pairs, JSONL, VCR cassettes), for the trace importers' tests.

A tool loop: the model asks for ``lookup_order`` and then answers with the refund it made up.
"""

from __future__ import annotations

import json
from typing import Any

import openai
import yaml

from chat_server import ChatServer, Reply

#: An API key the client sends: no trace read from these files may keep it.
API_KEY = "sk-proj-TRACESECRET0123456789abcdef"
SYSTEM = "You are the support bot of Acme. Refunds need a manager's approval."
QUESTION = "Where is my refund for order 42? I was promised it last week."
TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "lookup_order",
            "description": "Look an order up by its id",
            "parameters": {
                "type": "object",
                "properties": {"order_id": {"type": "string"}},
                "required": ["order_id"],
            },
        },
    }
]
ORDER = '{"order_id": "42", "status": "delivered", "refund": "none"}'
ANSWER = "Your refund of $120 was approved and sent today."


def tool_loop() -> list[tuple[dict[str, Any], str]]:
    """The two requests of the loop as the server received them, each with the response text
    the server sent back (as the SDK read it)."""
    script = [
        Reply(
            tool_calls=[
                {"id": "call_lookup_1", "name": "lookup_order", "arguments": {"order_id": "42"}}
            ]
        ),
        Reply(content=ANSWER),
    ]
    with ChatServer(script, model="gpt-4o-2024-08-06") as server:
        client = openai.OpenAI(base_url=server.base_url, api_key=API_KEY, max_retries=0)
        messages: list[Any] = [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": QUESTION},
        ]
        texts = []
        for _ in script:
            raw = client.chat.completions.with_raw_response.create(
                model="gpt-4o",
                messages=messages,
                tools=TOOLS,  # type: ignore[arg-type]
                temperature=0.2,
                seed=7,
            )
            texts.append(raw.http_response.text)
            messages.append(raw.parse().choices[0].message.model_dump(exclude_none=True))
            messages.append({"role": "tool", "tool_call_id": "call_lookup_1", "content": ORDER})
        bodies = [request.body for request in server.requests]
    return list(zip(bodies, texts, strict=True))


def pairs() -> list[dict[str, Any]]:
    """The loop as ``{"request", "response"}`` pairs (what ``new --from-openai`` reads)."""
    return [{"request": body, "response": json.loads(text)} for body, text in tool_loop()]


def jsonl(records: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(record) + "\n" for record in records)


def cassette(
    exchanges: list[tuple[dict[str, Any], str]],
    path: str = "/v1/chat/completions",
    extra: list[dict[str, Any]] | None = None,
) -> str:
    """A vcrpy cassette (as pytest-recording writes it) of these exchanges: bodies as JSON text,
    the credentials in the request headers."""
    interactions = [
        {
            "request": {
                "body": json.dumps(body),
                "headers": {
                    "Authorization": [f"Bearer {API_KEY}"],
                    "Content-Type": ["application/json"],
                    "User-Agent": ["OpenAI/Python"],
                },
                "method": "POST",
                "uri": f"https://api.openai.com{path}",
            },
            "response": {
                "body": {"string": text},
                "headers": {"Content-Type": ["application/json"]},
                "status": {"code": 200, "message": "OK"},
            },
        }
        for body, text in exchanges
    ]
    document = {"interactions": [*(extra or []), *interactions], "version": 1}
    return yaml.safe_dump(document, sort_keys=False, width=1000)


def stored_response(
    output: list[dict[str, Any]], n: int, tools: list[dict[str, Any]], **fields: Any
) -> dict[str, Any]:
    """A Responses API ``response`` object, as the API returns (and stores) it."""
    return {
        "id": f"resp_{n}",
        "object": "response",
        "created_at": 1764720000 + n,
        "status": "completed",
        "model": "gpt-4.1-2025-04-14",
        "output": output,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": tools,
        **fields,
    }


def output_message(text: str, n: int) -> dict[str, Any]:
    """A Responses API output ``message`` item holding ``text``."""
    return {
        "type": "message",
        "id": f"msg_{n}",
        "status": "completed",
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }
