"""What users keep of a streamed Chat Completions call, as the real openai SDK makes it against
the scripted test server's stream: the captured server-sent events, the SDK's chunks logged as
JSONL, and the completion its stream helper accumulates. Each reads as the same model call."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from openai.types.chat import ChatCompletionChunk

import openai_exchanges as ox
import sdk_streams as st
from chat_server import Reply
from incident_evals.traces import ModelCall, TraceError
from incident_evals.traces.formats import read_calls

NO_REQUEST = "no request in the file: the conversation is unknown"
REPLIES = {
    "text and two tool calls": st.REPLY,
    "tool calls only": Reply(tool_calls=st.REPLY.tool_calls),
    "text only": Reply(content=ox.ANSWER),
}


@pytest.fixture(scope="module", params=list(REPLIES))
def streamed(request: pytest.FixtureRequest) -> tuple[Reply, st.StreamedCall]:
    reply = REPLIES[request.param]
    return reply, st.streamed_call(reply)


def read(tmp_path: Path, text: str, name: str) -> list[ModelCall]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return read_calls(path)


def only(calls: list[ModelCall]) -> ModelCall:
    assert len(calls) == 1
    return calls[0]


def answer(call: ModelCall) -> tuple[Any, ...]:
    return (
        call.output,
        [(t.id, t.name, t.arguments, t.arguments_raw) for t in call.tool_calls],
        call.model,
    )


def scripted(reply: Reply) -> tuple[Any, ...]:
    calls = [
        (spec.get("id"), spec["name"], spec["arguments"], json.dumps(spec["arguments"]))
        for spec in reply.tool_calls or []
    ]
    return reply.content, calls, st.MODEL


def without_source(call: ModelCall) -> dict[str, Any]:
    found = call.to_json()
    del found["source"]
    return found


def test_the_captured_stream_is_what_the_sdk_parsed(
    streamed: tuple[Reply, st.StreamedCall],
) -> None:
    _, call = streamed
    text = call.sse.decode("utf-8")
    events = text.split("\n\n")
    assert events[-2:] == ["data: [DONE]", ""]
    from_wire = [
        ChatCompletionChunk.model_validate_json(event.removeprefix("data: "))
        for event in events[:-2]
    ]
    assert from_wire == [ChatCompletionChunk.model_validate_json(line) for line in call.chunks]
    assert len(from_wire) > 4


def test_each_artefact_paired_with_its_request_is_the_same_call(
    tmp_path: Path, streamed: tuple[Reply, st.StreamedCall]
) -> None:
    reply, call = streamed
    captured = only(read(tmp_path, call.pair_with_sse(), "captured.json"))
    logged = only(read(tmp_path, call.pair_with_chunks(), "logged.json"))
    final = only(read(tmp_path, call.pair_with_final(), "final.json"))

    assert without_source(captured) == without_source(logged) == without_source(final)
    assert {c.source.format for c in (captured, logged, final)} == {"openai-chat"}
    assert answer(captured)[:2] == scripted(reply)[:2]
    assert captured.model == "gpt-4o"
    assert captured.system == ox.SYSTEM
    assert captured.messages == ({"role": "user", "content": ox.QUESTION},)
    assert captured.tools == tuple(st.TOOLS)
    assert captured.params == {"temperature": 0.2}
    assert captured.guesses == ()


def test_each_artefact_alone_gives_the_answer_without_the_conversation(
    tmp_path: Path, streamed: tuple[Reply, st.StreamedCall]
) -> None:
    reply, call = streamed
    array = json.dumps([json.loads(line) for line in call.chunks])
    alone = [
        only(read(tmp_path, call.sse.decode("utf-8"), "capture.sse")),
        only(read(tmp_path, call.chunks_jsonl(), "chunks.jsonl")),
        only(read(tmp_path, array, "chunks.json")),
        only(read(tmp_path, call.final, "final.json")),
    ]
    for found in alone:
        assert answer(found) == scripted(reply)
        assert found.messages == ()
        assert found.guesses == (NO_REQUEST,)


def test_chunks_without_usage_read_the_same(tmp_path: Path) -> None:
    with_usage = st.streamed_call()
    without = st.streamed_call(include_usage=False)
    assert json.loads(with_usage.chunks[-1])["choices"] == []
    assert json.loads(without.chunks[-1])["choices"] != []
    assert answer(only(read(tmp_path, without.chunks_jsonl(), "a"))) == answer(
        only(read(tmp_path, with_usage.chunks_jsonl(), "b"))
    )


def test_several_streams_logged_in_one_file_are_told_apart_by_their_id(tmp_path: Path) -> None:
    first = st.streamed_call()
    second = st.streamed_call(REPLIES["text only"])
    renamed = [line.replace('"chatcmpl-1"', '"chatcmpl-9"') for line in second.chunks]
    calls = read(tmp_path, first.chunks_jsonl() + "".join(f"{x}\n" for x in renamed), "log")
    assert [c.index for c in calls] == [0, 1]
    assert answer(calls[0]) == scripted(st.REPLY)
    assert answer(calls[1]) == scripted(REPLIES["text only"])
    assert "2 streams in the file, told apart by their chunks' id" in calls[1].guesses


def test_a_log_cut_before_the_finish_reason_says_so(tmp_path: Path) -> None:
    call = st.streamed_call()
    cut = [line for line in call.chunks if '"finish_reason":null' in line][:-3]
    found = only(read(tmp_path, "".join(f"{line}\n" for line in cut), "cut.jsonl"))
    assert found.tool_calls[-1].arguments is None
    assert "no chunk has a finish_reason: the answer may have been cut short" in found.guesses
    assert "tool call 1 (refund): its arguments are not a JSON object" in found.guesses


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (json.dumps({"request": {"messages": []}, "response": {}}), "an object, not a chat"),
        ('{"object": "chat.completion", "choices": []}', "'chat.completion', not a chat"),
        ("[1, 2]", "an array, not a chat.completion.chunk"),
        ('{"object": "chat.completion.chunk", "choices": "abc"}', "a choice is a string"),
        ('{"object": "chat.completion.chunk", "error": {"message": "overloaded"}}', "overloaded"),
    ],
)
def test_a_bad_line_in_a_log_of_chunks_is_one_line_naming_it(
    tmp_path: Path, line: str, problem: str
) -> None:
    chunks = st.streamed_call().chunks
    path = tmp_path / "log.jsonl"
    path.write_text("".join(f"{x}\n" for x in [*chunks[:3], line, *chunks[3:]]), encoding="utf-8")
    with pytest.raises(TraceError) as caught:
        read_calls(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:4: ")
    assert problem in message
    assert "\n" not in message


def test_chunks_printed_with_to_json_read_as_their_jsonl(tmp_path: Path) -> None:
    call = st.streamed_call()
    assert all(text.startswith("{\n  ") for text in call.printed)
    printed = only(read(tmp_path, "".join(f"{text}\n" for text in call.printed), "printed"))
    assert answer(printed) == scripted(st.REPLY)
    assert printed.guesses == (NO_REQUEST,)


def test_a_broken_chunk_among_printed_ones_names_its_line(tmp_path: Path) -> None:
    printed = st.streamed_call().printed
    text = "".join(f"{x}\n" for x in printed[:2]) + '{\n  "id": "chatcmpl-1",\n  "choices": [\n'
    path = tmp_path / "printed"
    path.write_text(text, encoding="utf-8")
    line = text.count("\n") + 1
    with pytest.raises(TraceError, match=rf"^{path}:{line}: not JSON \(Expecting value"):
        read_calls(path)
