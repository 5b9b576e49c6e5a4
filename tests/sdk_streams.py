"""What users keep of a streamed Chat Completions call, made by the real openai SDK streaming from
the scripted test server: the server-sent events as they went over the wire (what a proxy
captures), the SDK's chunks logged one ``chunk.model_dump_json()`` a line, and the completion
the SDK's stream helper accumulates, each with the request the SDK sent.

The call is the one of :mod:`openai_exchanges`: the model looks the order up and, in the same
answer, says it is doing so and refunds it (two tool calls, their arguments streamed in
fragments).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import openai

import openai_exchanges as ox
from chat_server import ChatServer, Reply

SAYING = "Let me look order 42 up and refund it."
LOOKUP = {"order_id": "42"}
REFUND = {"order_id": "42", "amount": 120, "reason": "promised last week"}
REPLY = Reply(
    content=SAYING,
    tool_calls=[
        {"id": "call_lookup_1", "name": "lookup_order", "arguments": LOOKUP},
        {"id": "call_refund_1", "name": "refund", "arguments": REFUND},
    ],
)
MODEL = "gpt-4o-2024-08-06"


@dataclass(frozen=True)
class StreamedCall:
    #: The request body the SDK sent (``stream: true``).
    request: dict[str, Any]
    #: The body of the streamed answer, byte for byte as the server sent it.
    sse: bytes
    #: Each chunk the SDK yielded, as ``chunk.model_dump_json()``.
    chunks: list[str]
    #: The stream helper's final completion, as ``model_dump_json()``.
    final: str

    def chunks_jsonl(self) -> str:
        return "".join(line + "\n" for line in self.chunks)

    def pair_with_sse(self) -> str:
        return json.dumps({"request": self.request, "response": self.sse.decode("utf-8")})

    def pair_with_chunks(self) -> str:
        chunks = [json.loads(line) for line in self.chunks]
        return json.dumps({"request": self.request, "response": chunks})

    def pair_with_final(self) -> str:
        return json.dumps({"request": self.request, "response": json.loads(self.final)})


def streamed_call(reply: Reply = REPLY, include_usage: bool = True) -> StreamedCall:
    """One streamed call made twice, as an application would: iterating the SDK's stream (its
    chunks logged) and with the stream helper (its final completion kept)."""
    with ChatServer([reply, reply], model=MODEL) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key=ox.API_KEY, max_retries=0)
        kwargs: dict[str, Any] = {
            "model": "gpt-4o",
            "messages": [
                {"role": "system", "content": ox.SYSTEM},
                {"role": "user", "content": ox.QUESTION},
            ],
            "tools": ox.TOOLS,
            "temperature": 0.2,
        }
        if include_usage:
            kwargs["stream_options"] = {"include_usage": True}
        chunks = [
            chunk.model_dump_json()
            for chunk in client.chat.completions.create(stream=True, **kwargs)
        ]
        with client.chat.completions.stream(**kwargs) as stream:
            for _ in stream:
                pass
            final = stream.get_final_completion().model_dump_json()
        client.close()
        first, second = server.requests
    assert first.streamed is not None
    assert first.body == second.body
    return StreamedCall(request=first.body, sse=first.streamed, chunks=chunks, final=final)
