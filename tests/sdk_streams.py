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
from dataclasses import dataclass, field
from typing import Any, cast

import openai
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletionFunctionToolParam

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
TOOLS: list[dict[str, Any]] = [
    *ox.TOOLS,
    {
        "type": "function",
        "function": {
            "name": "refund",
            "description": "Refund an order (needs a manager's approval)",
            "parameters": {
                "type": "object",
                "properties": {
                    "order_id": {"type": "string"},
                    "amount": {"type": "number"},
                    "reason": {"type": "string"},
                },
                "required": ["order_id", "amount"],
            },
        },
    },
]


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
    #: Each chunk as ``chunk.to_json()`` writes it (indented, over several lines).
    printed: list[str] = field(default_factory=list)

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
            "tools": TOOLS,
            "temperature": 0.2,
        }
        if include_usage:
            kwargs["stream_options"] = {"include_usage": True}
        chunks, printed = [], []
        for chunk in client.chat.completions.create(stream=True, **kwargs):
            chunks.append(chunk.model_dump_json())
            printed.append(chunk.to_json())
        with client.chat.completions.stream(**kwargs) as stream:
            for _ in stream:
                pass
            final = stream.get_final_completion().model_dump_json()
        client.close()
        first, second = server.requests
    assert first.streamed is not None
    assert first.body == second.body
    return StreamedCall(first.body, first.streamed, chunks, final, printed)


#: What the tools returned, in the loop's second request.
RESULTS = {"call_lookup_1": ox.ORDER, "call_refund_1": '{"refunded": 120, "approved_by": null}'}


def streamed_loop() -> list[StreamedCall]:
    """An agent's tool loop, streamed: the model looks the order up and refunds it (unapproved),
    the agent runs both tools and sends their results back, the model answers. Each request is
    streamed and the chunks logged; the assistant message sent back is the one the SDK
    accumulates from them."""
    with ChatServer([REPLY, Reply(content=ox.ANSWER)], model=MODEL) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key=ox.API_KEY, max_retries=0)
        messages: list[Any] = [
            {"role": "system", "content": ox.SYSTEM},
            {"role": "user", "content": ox.QUESTION},
        ]
        logged: list[tuple[list[str], str]] = []
        for _ in range(2):
            state: ChatCompletionStreamState[Any] = ChatCompletionStreamState()
            chunks = []
            stream = client.chat.completions.create(
                model="gpt-4o",
                messages=messages,
                tools=cast("list[ChatCompletionFunctionToolParam]", TOOLS),
                temperature=0.2,
                stream=True,
            )
            for chunk in stream:
                chunks.append(chunk.model_dump_json())
                state.handle_chunk(chunk)
            final = state.get_final_completion()
            logged.append((chunks, final.model_dump_json()))
            message = final.choices[0].message
            messages.append(message.model_dump(exclude_none=True, exclude={"parsed"}))
            for call in message.tool_calls or ():
                messages.append(
                    {"role": "tool", "tool_call_id": call.id, "content": RESULTS[call.id]}
                )
        client.close()
        requests = server.requests
    found = []
    for request, (lines, completion) in zip(requests, logged, strict=True):
        assert request.streamed is not None
        found.append(StreamedCall(request.body, request.streamed, lines, completion))
    return found
