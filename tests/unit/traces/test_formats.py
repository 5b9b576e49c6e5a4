"""The format registry: one bounded read, parsing as the content says, detection, refusals."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
import yaml

import openai_exchanges as ox
from incident_evals.traces import TraceError, formats
from incident_evals.traces.formats import FORMATS, format_names, parse_document, read_calls


def write(tmp_path: Path, text: str, name: str = "trace.txt") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_every_registered_format_names_itself_once() -> None:
    names = format_names()
    assert len(names) == len(FORMATS) == len(set(names))
    assert {"openai-chat", "openai-responses"} <= set(names)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ('{"a": 1}', "json"),
        ('[{"a": 1}]', "json"),
        ('{"a": 1}\n{"a": 2}\n', "jsonl"),
        ('data: {"a": 1}\n\ndata: [DONE]\n\n', "sse"),
        ("event: response.created\ndata: {}\n\n", "sse"),
        ("interactions: []\nversion: 1\n", "yaml"),
    ],
)
def test_the_content_says_how_a_file_is_parsed(text: str, kind: str) -> None:
    assert parse_document(text, "f").kind == kind


def test_the_format_is_found_from_the_content_not_the_name(tmp_path: Path) -> None:
    # A Chat pair in a file named like a cassette, and a cassette named like JSON.
    pair_file = write(tmp_path, json.dumps(ox.pairs()[0]), "looks.yaml")
    cassette_file = write(tmp_path, ox.cassette(ox.tool_loop()), "looks.json")
    assert [call.source.format for call in read_calls(pair_file)] == ["openai-chat"]
    assert [call.index for call in read_calls(cassette_file)] == [0, 1]


def test_calls_are_numbered_from_zero_and_results_linked_from_later_calls(
    tmp_path: Path,
) -> None:
    calls = read_calls(write(tmp_path, ox.jsonl(ox.pairs())))
    assert [call.index for call in calls] == [0, 1]
    # The first call's tool call was answered in the second call's request.
    assert calls[0].tool_calls[0].result == ox.ORDER


def test_a_file_of_no_known_format_names_the_formats_tried(tmp_path: Path) -> None:
    path = write(tmp_path, '{"spans": []}')
    with pytest.raises(TraceError) as caught:
        read_calls(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: not a trace format")
    assert "openai-chat" in message
    assert "openai-responses" in message


def test_an_unknown_format_name_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match=r"unknown trace format 'zipkin' \(known: openai-chat"):
        read_calls(write(tmp_path, "{}"), "zipkin")


def test_a_format_given_is_read_as_that_format(tmp_path: Path) -> None:
    path = write(tmp_path, json.dumps(ox.pairs()[0]))
    with pytest.raises(TraceError, match=r'the response has no "output" list$'):
        read_calls(path, "openai-responses")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"request": {"messages": [', r":1: not JSON \(Expecting value, column 27\)"),
        ('{"request": {}, "response": {}}\n{"request": {"mess', r":2: not JSON"),
        ("", ": empty"),
        ("[" * 100_000 + "]" * 100_000, ": nested too deeply"),
        ("just words", r": not JSON, JSONL, SSE or YAML \(it is a string\)"),
        ("a: [1\nb: 2", r":\d+: not JSON, JSONL, SSE or YAML"),
    ],
)
def test_a_broken_file_is_one_line_naming_it(tmp_path: Path, text: str, problem: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(TraceError, match=f"^{path}{problem}") as caught:
        read_calls(path)
    assert "\n" not in str(caught.value)


def test_a_file_that_is_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "trace.json"
    path.write_bytes(b'{"a": 1}\n{"b": "\xff"}\n')
    with pytest.raises(TraceError, match=r":2: not UTF-8 \(byte 0xff"):
        read_calls(path)


def test_a_missing_file_and_a_folder_are_refused(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match="no such file"):
        read_calls(tmp_path / "nothing.json")
    with pytest.raises(TraceError, match="is a folder"):
        read_calls(tmp_path)


def test_a_huge_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "huge.jsonl"
    with path.open("wb") as stream:
        # Sparse: no disk used, and nothing read.
        stream.truncate(formats.MAX_BYTES + 1)
    with pytest.raises(TraceError, match=r": too large \(268435457 bytes; at most 256 MiB\)"):
        read_calls(path)


def test_the_bound_holds_on_what_is_read_not_only_on_the_size_said(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(formats, "MAX_BYTES", 10)
    with pytest.raises(TraceError, match="too large"):
        read_calls(write(tmp_path, '{"request": {}, "response": {}}'))


def test_a_compressed_cassette_body_that_expands_too_far_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body, _ = ox.tool_loop()[0]
    interaction = {
        "request": {
            "body": json.dumps(body),
            "method": "POST",
            "uri": "https://x/v1/chat/completions",
        },
        "response": {
            "body": {"string": gzip.compress(b"{" + b" " * 100_000 + b"}")},
            "headers": {"Content-Encoding": ["gzip"]},
            "status": {"code": 200, "message": "OK"},
        },
    }
    path = write(tmp_path, yaml.safe_dump({"interactions": [interaction], "version": 1}))
    monkeypatch.setattr(formats, "MAX_BYTES", 50_000)
    with pytest.raises(TraceError, match=r"interaction 0: the gzip body expands beyond"):
        read_calls(path)


def test_yaml_is_read_safely(tmp_path: Path) -> None:
    path = write(tmp_path, "interactions: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(TraceError, match="not JSON, JSONL, SSE or YAML"):
        read_calls(path)


def test_a_stream_line_that_is_not_sse_names_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, 'data: {"object": "chat.completion.chunk"}\n\n<html>\n')
    with pytest.raises(TraceError, match=rf"^{path}:3: not a server-sent-event line"):
        read_calls(path)


def cassette_with_binary_body(headers: str) -> str:
    body, text = ox.tool_loop()[1]
    document = yaml.safe_load(ox.cassette([(body, text)]))
    document["interactions"][0]["response"]["body"]["string"] = text.encode()
    document["interactions"][0]["response"]["headers"] = "HEADERS"
    written = yaml.safe_dump(document)
    assert "headers: HEADERS\n" in written
    return written.replace("headers: HEADERS\n", f"headers: {headers}\n")


def test_a_body_in_an_encoding_that_is_not_read_is_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, cassette_with_binary_body("{Content-Encoding: [br]}"))
    with pytest.raises(
        TraceError, match=r"interaction 0: the body is br-encoded, which is not read"
    ):
        read_calls(path)


def test_a_header_that_an_alias_makes_huge_is_never_printed(tmp_path: Path) -> None:
    # Ten levels of ten aliases: a billion strings if the header were ever turned into text.
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for n in range(1, 10):
        levels.append(f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 10)}]")
    text = "\n".join(levels) + "\n" + cassette_with_binary_body("{Content-Encoding: [*a9]}")
    calls = read_calls(write(tmp_path, text))
    assert [call.output for call in calls] == [ox.ANSWER]
