"""The Inspect AI importer on logs Inspect itself wrote (a real run against the scripted test
server, in both log formats) and on logs built here for what a real run does not write."""

from __future__ import annotations

import copy
import io
import json
import random
import re
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import inspect_logs as il
import langfuse_fixtures as lf
import langsmith_fixtures as ls
import openai_exchanges as ox
from chat_server import ChatServer
from incident_evals.traces import ModelCall, TraceError, formats, inspect_log
from incident_evals.traces.formats import Document, load_format, read_calls, read_document
from otlp_fixtures import mutants, read_or_one_line_error, span, traces

# --------------------------------------------------------------------------------------------
# Logs Inspect wrote
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_logs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """One Inspect run (a tool call, then the answer), its log in both formats."""
    with ChatServer() as server:
        yield il.run_inspect(server, tmp_path_factory.mktemp("inspect"))


@pytest.mark.parametrize("log_format", ["eval", "json"])
def test_the_calls_of_a_log_inspect_wrote(real_logs: dict[str, Path], log_format: str) -> None:
    path = real_logs[log_format]
    asked, answered = read_calls(path)
    for call in (asked, answered):
        assert call.source.format == "inspect"
        assert call.model == "test-model"
        # Over 100 characters: Inspect moved it into the attachments; it is put back.
        assert call.system == il.SYSTEM
        assert [tool["function"]["name"] for tool in call.tools] == ["lookup_order"]
        assert call.tools[0]["function"]["parameters"]["required"] == ["order_id"]
        assert call.guesses == ()
        assert call.source.trace_id is not None
        assert call.source.trace_id.endswith("/order-a1/1")
    assert asked.messages == ({"role": "user", "content": il.QUESTION},)
    [lookup] = asked.tool_calls
    assert (lookup.id, lookup.name, lookup.arguments) == (
        "call_lookup",
        "lookup_order",
        il.ARGUMENTS,
    )
    assert lookup.result == il.RESULT
    assert asked.output is None
    assert [message["role"] for message in answered.messages] == ["user", "assistant", "tool"]
    assert answered.messages[2] == {
        "role": "tool",
        "tool_call_id": "call_lookup",
        "content": il.RESULT,
    }
    assert answered.tool_calls == ()
    assert answered.output == il.ANSWER
    assert asked.source.span_id != answered.source.span_id


def test_both_log_formats_give_the_same_calls(real_logs: dict[str, Path]) -> None:
    def facts(call: ModelCall) -> dict[str, Any]:
        data = call.to_json()
        del data["source"]
        return data

    assert [facts(call) for call in read_calls(real_logs["eval"])] == [
        facts(call) for call in read_calls(real_logs["json"])
    ]


def test_an_eval_log_is_a_zstd_zip_read_as_one(real_logs: dict[str, Path]) -> None:
    raw = real_logs["eval"].read_bytes()
    assert raw.startswith(b"PK\x03\x04")
    with zipfile.ZipFile(real_logs["eval"]) as archive:
        # Zstandard: what the standard library reads only from Python 3.14.
        assert {info.compress_type for info in archive.infolist()} == {93}
    document = read_document(real_logs["eval"], "log.eval")
    assert document.kind == "zip"
    assert "header.json" in document.value
    assert inspect_log.detect(document)


def test_zstd_members_are_read_without_inspect(
    real_logs: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Inspect, once imported, teaches zipfile zstd: read them as a process without it does.
    monkeypatch.setattr(formats, "_zipfile_reads_zstd", lambda: False)
    assert [call.output for call in read_calls(real_logs["eval"])] == [None, il.ANSWER]
    monkeypatch.setitem(sys.modules, "zstandard", None)
    with pytest.raises(TraceError, match=r"_journal/start.json is zstd-compressed, which needs"):
        read_calls(real_logs["eval"])


def test_a_cut_eval_log_is_one_line(real_logs: dict[str, Path], tmp_path: Path) -> None:
    raw = real_logs["eval"].read_bytes()
    path = tmp_path / "cut.eval"
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(TraceError, match=r"cut\.eval: a corrupt zip archive") as caught:
        read_calls(path)
    assert "\n" not in str(caught.value)


def test_a_zstd_member_larger_than_its_header_says_is_refused(
    real_logs: dict[str, Path], tmp_path: Path
) -> None:
    path = tmp_path / "liar.eval"
    path.write_bytes(_lie_about_sizes(real_logs["eval"].read_bytes()))
    # Read no further than the size said: 1 byte, then one more to see it is more.
    with pytest.raises(TraceError, match=r"liar\.eval: a corrupt zip archive \(_journal/start"):
        read_calls(path)


# --------------------------------------------------------------------------------------------
# Logs written here
# --------------------------------------------------------------------------------------------


def _write(tmp_path: Path, value: Any, name: str = "log.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(value), encoding="utf-8")
    return path


def _read(value: Any) -> list[ModelCall]:
    return inspect_log.read(Document("json", value), "log.json")


def test_a_tool_loop_with_inline_inputs() -> None:
    asked, answered = _read(il.eval_log([il.tool_loop_sample()]))
    assert asked.system == "Be brief."
    assert asked.model == "gpt-4o-mini"
    assert asked.tool_calls[0].arguments == {"order_id": "B2"}
    assert asked.tool_calls[0].arguments_raw == '{"order_id": "B2"}'
    assert asked.tool_calls[0].result == "B2: lost"
    assert answered.messages[1]["tool_calls"][0]["function"] == {
        "name": "lookup_order",
        "arguments": '{"order_id": "B2"}',
    }
    assert answered.tool_results == [{"tool_call_id": "call_b2", "content": "B2: lost"}]
    assert answered.output == "B2 is lost."
    assert (asked.source.trace_id, asked.source.span_id) == ("EVAL1/s1/1", "e1-s1-1")


def test_samples_are_read_in_the_dataset_order_then_by_epoch(tmp_path: Path) -> None:
    samples = [
        il.tool_loop_sample("b", 2),
        il.tool_loop_sample("a", 1),
        il.tool_loop_sample("b", 1),
    ]
    path = il.eval_archive(tmp_path / "log.eval", samples, sample_ids=["b", "a"])
    calls = read_calls(path)
    assert [call.source.trace_id for call in calls[::2]] == ["EVAL1/b/1", "EVAL1/b/2", "EVAL1/a/1"]
    assert [call.index for call in calls] == list(range(6))
    # The same ids in several samples: each result comes from its own sample.
    assert all(call.tool_calls[0].result == "B2: lost" for call in calls[::2])


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_an_eval_archive_compressed_as_older_inspect_wrote_it(
    tmp_path: Path, compression: int
) -> None:
    path = il.eval_archive(tmp_path / "log.eval", [il.tool_loop_sample()], compression=compression)
    assert [call.output for call in read_calls(path)] == [None, "B2 is lost."]


def test_a_log_still_being_written_has_only_its_journal(tmp_path: Path) -> None:
    path = il.eval_archive(tmp_path / "log.eval", [il.tool_loop_sample()])
    kept = tmp_path / "running.eval"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(kept, "w") as target:
        for name in source.namelist():
            if name != "header.json":
                target.writestr(name, source.read(name))
    assert len(read_calls(kept)) == 2


def test_pooled_inputs_and_attachments_are_put_back() -> None:
    sample = il.tool_loop_sample()
    system, user, asked, told, _ = sample["messages"]
    sample["attachments"] = {"a" * 32: "Be brief, and polite.", "b" * 32: "B2: lost at sea"}
    system = {**system, "content": f"attachment://{'a' * 32}"}
    told = {**told, "content": [{"type": "text", "text": f"attachment://{'b' * 32}"}]}
    sample["events_data"] = {"messages": [system, user, asked, told]}
    for event in sample["events"][1::2]:
        event["input"] = []
    sample["events"][1]["input_refs"] = [[0, 2]]
    sample["events"][3]["input_refs"] = [[0, 2], [2, 4]]
    sample["messages"][3] = told
    first, second = _read(il.eval_log([sample]))
    assert first.system == second.system == "Be brief, and polite."
    assert second.messages[-1]["content"] == "B2: lost at sea"
    assert first.tool_calls[0].result == "B2: lost at sea"
    assert first.guesses == second.guesses == ()


def test_an_attachment_in_tool_arguments_and_output_is_put_back() -> None:
    sample = il.tool_loop_sample()
    key = "c" * 32
    sample["attachments"] = {key: "a long order id"}
    first = sample["events"][1]["output"]["choices"][0]["message"]
    first["tool_calls"][0]["arguments"] = {"order_id": f"attachment://{key}"}
    sample["events"][3]["output"]["choices"][0]["message"]["content"] = f"attachment://{key}"
    asked, answered = _read(il.eval_log([sample]))
    assert asked.tool_calls[0].arguments == {"order_id": "a long order id"}
    assert answered.output == "a long order id"


def test_an_unknown_attachment_stays_as_text_and_is_said() -> None:
    sample = il.tool_loop_sample()
    sample["events"][1]["input"][1]["content"] = "attachment://" + "d" * 32
    asked, _ = _read(il.eval_log([sample]))
    assert asked.messages[0]["content"] == "attachment://" + "d" * 32
    assert asked.guesses == (
        "attachment://" + "d" * 32 + " is not in the sample's attachments: kept as text",
    )


def test_a_sample_without_model_events_is_one_call_from_its_messages() -> None:
    sample = il.tool_loop_sample()
    sample["events"] = []
    [call] = _read(il.eval_log([sample]))
    assert call.system == "Be brief."
    assert [message["role"] for message in call.messages] == ["user", "assistant", "tool"]
    assert call.output == "B2 is lost."
    assert call.model == "gpt-4o-mini"
    assert call.guesses == (
        "the sample has no model events: its messages and output are taken as one call",
    )


def test_a_model_call_without_an_answer_is_skipped_and_said() -> None:
    sample = il.tool_loop_sample()
    failed = copy.deepcopy(sample["events"][1])
    failed["uuid"] = "failed"
    failed["output"] = {"model": "gpt-4o-mini", "choices": [], "error": "rate limited"}
    failed["error"] = "rate limited"
    sample["events"].insert(1, failed)
    asked, answered = _read(il.eval_log([sample]))
    assert asked.source.span_id == "e1-s1-1"
    assert asked.guesses == ("1 earlier model call(s) of the sample without an answer are skipped",)
    assert answered.guesses == ()


def test_config_and_tool_choice_become_request_parameters() -> None:
    sample = il.tool_loop_sample()
    event = sample["events"][1]
    event["config"] = {
        "temperature": 0.2,
        "max_tokens": 300,
        "stop_seqs": ["END"],
        "extra_headers": {"Authorization": "Bearer sk-secret"},
        "reasoning_effort": "low",
    }
    event["tool_choice"] = {"name": "lookup_order"}
    sample["events"][3]["tool_choice"] = "any"
    asked, answered = _read(il.eval_log([sample]))
    assert asked.params == {
        "temperature": 0.2,
        "max_tokens": 300,
        "stop": ["END"],
        "tool_choice": {"type": "function", "function": {"name": "lookup_order"}},
    }
    assert answered.params == {"tool_choice": "required"}
    assert "sk-secret" not in json.dumps([asked.to_json(), answered.to_json()])


def test_a_failed_tool_tells_the_model_its_error() -> None:
    sample = il.tool_loop_sample()
    told = sample["events"][3]["input"][3]
    told["content"] = ""
    told["error"] = {"type": "unknown", "message": "no such order"}
    sample["messages"][3] = told
    asked, answered = _read(il.eval_log([sample]))
    assert answered.messages[-1]["content"] == "Error: no such order"
    assert asked.tool_calls[0].result == "Error: no such order"


def test_model_events_nested_in_a_tool_event_are_read_once() -> None:
    sample = il.tool_loop_sample()
    inner = il.model_event("inner", [il.message("user", "sub-task")], il.output("done"))
    sample["events"][2]["events"] = [inner]
    sample["events"].append(inner)
    calls = _read(il.eval_log([sample]))
    assert [call.source.span_id for call in calls] == ["e1-s1-1", "inner", "e3-s1-1"]


def test_reasoning_and_images_are_dropped_and_said() -> None:
    sample = il.tool_loop_sample()
    sample["events"][1]["input"][1]["content"] = [
        {"type": "text", "text": "Where is order B2?"},
        {"type": "image", "image": "data:image/png;base64,AAAA"},
    ]
    sample["events"][3]["output"]["choices"][0]["message"]["content"] = [
        {"type": "reasoning", "reasoning": "think"},
        {"type": "text", "text": "B2 is lost."},
    ]
    asked, answered = _read(il.eval_log([sample]))
    assert asked.messages[0]["content"] == "Where is order B2?"
    assert asked.guesses == ("input message 1: its image parts are dropped",)
    assert answered.output == "B2 is lost."
    # The same user message is in the second call's input too.
    assert answered.guesses == (
        "input message 1: its image parts are dropped",
        "the answer's reasoning parts are dropped",
    )


# --------------------------------------------------------------------------------------------
# Detection
# --------------------------------------------------------------------------------------------


def test_the_format_is_found_from_the_content(tmp_path: Path) -> None:
    json_log = _write(tmp_path, il.eval_log([il.tool_loop_sample()]), "named.yaml")
    archive = il.eval_archive(tmp_path / "named.json", [il.tool_loop_sample()])
    assert {call.source.format for call in read_calls(json_log) + read_calls(archive)} == {
        "inspect"
    }


def test_no_other_format_claims_an_inspect_log(tmp_path: Path) -> None:
    archive = il.eval_archive(tmp_path / "log.eval", [il.tool_loop_sample()])
    documents = [
        Document("json", il.eval_log([il.tool_loop_sample()])),
        read_document(archive, "log.eval"),
    ]
    for module in formats.FORMATS:
        found = load_format(module)
        if found.NAME != "inspect":
            assert not any(found.detect(document) for document in documents), found.NAME


def test_inspect_claims_no_other_formats_file() -> None:
    others = [
        Document("json", ox.pairs()[0]),
        Document("jsonl", ox.pairs(), (1, 2)),
        Document("json", traces(span("a" * 16, {"gen_ai.operation.name": "chat"}, start=1))),
        Document("json", lf.trace()),
        Document("json", lf.page()),
        Document("jsonl", lf.observations(), tuple(range(1, len(lf.observations()) + 1))),
        Document("json", ls.runs()),
        Document("jsonl", ls.runs(), tuple(range(1, len(ls.runs()) + 1))),
        Document("json", {"eval": "not an object", "status": "success"}),
        Document("zip", {"word/document.xml": b"<w/>"}),
    ]
    assert not any(inspect_log.detect(document) for document in others)


# --------------------------------------------------------------------------------------------
# Bad logs
# --------------------------------------------------------------------------------------------


def _one_line(path: Path) -> str:
    with pytest.raises(TraceError) as caught:
        read_calls(path, "inspect")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(str(path))
    return message


def _sample_with(change: Any) -> dict[str, Any]:
    sample = il.tool_loop_sample()
    change(sample)
    return il.eval_log([sample])


@pytest.mark.parametrize(
    ("log", "problem"),
    [
        ({**il.eval_log([]), "samples": None}, "the log has no samples"),
        ({**il.eval_log([]), "samples": {}}, '"samples" is an object, not a list'),
        (il.eval_log([7]), "sample #0: an integer, not a sample object"),
        (il.eval_log([]), "no model calls in this log"),
        (
            _sample_with(lambda s: s["events"].insert(0, "x")),
            r"sample #0 \(sample s1, epoch 1\), event 0: a string, not an event",
        ),
        (
            _sample_with(lambda s: s["events"][1].update(input=[], input_refs=[[0, 9]])),
            r"event 1: input_refs \[0, 9\) is outside the sample's 0 pooled messages",
        ),
        (
            _sample_with(lambda s: s["events"][1].update(input=[], input_refs=[["0", 1]])),
            r"event 1: an input_refs range is not \[start, end\]",
        ),
        (
            _sample_with(lambda s: s["events"][3]["input"][3].pop("tool_call_id")),
            "event 3: tool message 3 has no tool_call_id",
        ),
        (
            _sample_with(lambda s: s["events"][1]["input"].append({"role": "robot"})),
            "event 1: input message 2 has role robot",
        ),
        (
            _sample_with(lambda s: s["events"][1]["output"]["choices"][0].pop("message")),
            r"event 1: the output has no choices\[0\]\.message",
        ),
        (
            _sample_with(lambda s: s.update(attachments="x")),
            '"attachments" is a string',
        ),
    ],
)
def test_a_bad_json_log_is_one_line_naming_where(tmp_path: Path, log: Any, problem: str) -> None:
    message = _one_line(_write(tmp_path, log))
    assert re.search(problem, message), message


def test_input_refs_that_name_the_pool_again_and_again_are_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sample = il.tool_loop_sample()
    sample["events_data"] = {"messages": sample["events"][3]["input"]}
    for event in sample["events"][1::2]:
        event["input"] = []
        event["input_refs"] = [[0, 4]] * 3
    path = _write(tmp_path, il.eval_log([sample]))
    monkeypatch.setattr(inspect_log, "MAX_INPUT_MESSAGES", 10)
    assert _one_line(path).endswith("event 1: more than 10 input messages")
    monkeypatch.setattr(inspect_log, "MAX_INPUT_MESSAGES", 12)
    monkeypatch.setattr(inspect_log, "MAX_ALL_INPUT_MESSAGES", 20)
    assert _one_line(path).endswith("event 3: more than 20 input messages in all the calls")


def _archive_with(tmp_path: Path, members: dict[str, bytes]) -> Path:
    path = tmp_path / "bad.eval"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def test_a_bad_archive_member_is_one_line_naming_it(tmp_path: Path) -> None:
    header = json.dumps({"eval": {"task": "t", "model": "m"}}).encode()
    assert _one_line(_archive_with(tmp_path, {"header.json": b"[1"})).endswith(
        "header.json: not JSON (Expecting ',' delimiter, column 3)"
    )
    assert _one_line(
        _archive_with(tmp_path, {"header.json": header, "samples/s_epoch_1.json": b"{\xff}"})
    ).endswith("samples/s_epoch_1.json: not UTF-8")
    assert _one_line(_archive_with(tmp_path, {"header.json": header})).endswith(
        "the log has no samples (was it written without them?)"
    )
    assert "chunked samples are not read" in _one_line(
        _archive_with(tmp_path, {"header.json": header, "samples/s_epoch_1/sample.json": b"{}"})
    )


def test_a_corrupt_zip_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.eval"
    path.write_bytes(b"PK\x03\x04" + b"\x00" * 200)
    assert "corrupt.eval: a corrupt zip archive" in _one_line(path)


def test_a_zip_bomb_is_refused_without_being_expanded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(formats, "MAX_BYTES", 100_000)
    bomb = _archive_with(tmp_path, {"header.json": b" " * 200_000})
    assert _one_line(bomb).endswith("the zip archive expands beyond 0 MiB")
    # Headers that lie about the size: the read stops at the bound all the same.
    liar = tmp_path / "liar.eval"
    liar.write_bytes(_lie_about_sizes(bomb.read_bytes()))
    assert "liar.eval: " in _one_line(liar)


def test_a_real_zip_bomb_is_refused_before_it_is_expanded(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.eval"
    zeros = bytes(1 << 20)
    with (
        zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive,
        archive.open("header.json", "w", force_zip64=True) as member,
    ):
        for _ in range(formats.MAX_BYTES // len(zeros) + 1):
            member.write(zeros)
    assert bomb.stat().st_size < 2 * 1024 * 1024
    assert _one_line(bomb).endswith("the zip archive expands beyond 256 MiB")
    liar = tmp_path / "liar.eval"
    liar.write_bytes(_lie_about_sizes(bomb.read_bytes()))
    assert "liar.eval: a corrupt zip archive" in _one_line(liar)


def test_an_archive_of_too_many_members_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(formats, "MAX_ZIP_MEMBERS", 3)
    path = _archive_with(tmp_path, {f"samples/{n}.json": b"{}" for n in range(4)})
    assert _one_line(path).endswith("a zip archive of 4 members (at most 3)")


def test_damaged_logs_give_calls_or_one_line() -> None:
    seeds = [il.eval_log([il.tool_loop_sample(), il.tool_loop_sample("s2")])]
    for damaged in mutants(seeds, 300):
        read_or_one_line_error(
            lambda value, file: inspect_log.read(Document("json", value), file), damaged
        )


def _lie_about_sizes(raw: bytes) -> bytes:
    """The archive with every member's uncompressed size said to be 1 byte, in its local
    header and in the central directory."""
    data = bytearray(raw)
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        infos = archive.infolist()
    for info in infos:
        data[info.header_offset + 22 : info.header_offset + 26] = (1).to_bytes(4, "little")
    at = data.find(b"PK\x01\x02")
    while at != -1:
        data[at + 24 : at + 28] = (1).to_bytes(4, "little")
        at = data.find(b"PK\x01\x02", at + 4)
    return bytes(data)


def test_damaged_archives_are_read_or_one_line(tmp_path: Path) -> None:
    raw = il.eval_archive(tmp_path / "seed.eval", [il.tool_loop_sample()]).read_bytes()
    rng = random.Random(7)
    path = tmp_path / "damaged.eval"
    for _ in range(300):
        damaged = bytearray(raw)
        for _ in range(rng.randint(1, 4)):
            # Bytes past the magic number: the file stays a zip archive to the format's eye.
            damaged[rng.randrange(4, len(damaged))] = rng.randrange(256)
        path.write_bytes(bytes(damaged))
        problem = ""
        try:
            read_calls(path)
        except TraceError as error:
            problem = str(error)
        assert "\n" not in problem
