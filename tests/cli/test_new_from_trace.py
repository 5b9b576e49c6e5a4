"""``incident-evals new --from-trace``: a model call of a trace becomes a case linked back to it."""

from __future__ import annotations

import datetime as dt
import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

import openai_exchanges as ox
from chat_server import ChatServer, Reply
from incident_evals.case import LoadedCase, load_file
from incident_evals.cli import main
from incident_evals.constraints import builtin_registry
from incident_evals.traces import Source

FLAGS = ["--title", "Bot made up a refund", "--category", "correctness", "--severity", "major"]
FLAGS += ["--date", "2025-12-01"]
CASE = "incident_cases/correctness/INC-2025-bot-made-up-a-refund.yaml"


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    return tmp_path


@pytest.fixture
def trace(in_tmp: Path) -> str:
    (in_tmp / "loop.jsonl").write_text(ox.jsonl(ox.pairs()), encoding="utf-8")
    return "loop.jsonl"


def case_data(path: str = CASE) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    return data


def with_expect(path: str, expect: str) -> None:
    file = Path(path)
    text = file.read_text(encoding="utf-8")
    file.write_text(text.replace("\nexpect: []\n", f"\nexpect:\n{expect}"), encoding="utf-8")


def test_the_last_answered_call_becomes_a_case_linked_to_its_trace(
    trace: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["new", "--from-trace", trace, *FLAGS]) == 0
    assert capsys.readouterr().out.startswith(f"wrote {CASE}\n")
    data = case_data()
    assert data["incident"]["source"] == {"format": "openai-chat", "file": trace}
    assert data["input"]["system"] == ox.SYSTEM
    assert [m["role"] for m in data["input"]["messages"]] == ["user", "assistant", "tool"]
    assert data["input"]["tools"][0]["responses"] == [
        {"when": {"order_id": "42"}, "output": json.loads(ox.ORDER)}
    ]
    assert data["recorded_output"] == ox.ANSWER
    assert data["model"] == {"name": "gpt-4o", "temperature": 0.2, "seed": 7}
    text = Path(CASE).read_text(encoding="utf-8")
    assert "from the trace loop.jsonl call 1 (openai-chat)" in text


def test_the_case_loads_with_its_source(trace: str) -> None:
    assert main(["new", "--from-trace", trace, *FLAGS]) == 0
    with_expect(CASE, "  - not_contains: approved\n")
    (loaded,) = load_file(Path(CASE), Path("incident_cases"), builtin_registry())
    assert isinstance(loaded, LoadedCase)
    assert loaded.case.incident.source == Source("openai-chat", trace)


def test_a_call_is_chosen_by_its_number(trace: str) -> None:
    assert main(["new", "--from-trace", trace, "--call", "0", *FLAGS]) == 0
    data = case_data()
    assert data["recorded_tool_calls"] == [
        {"name": "lookup_order", "arguments": {"order_id": "42"}}
    ]
    assert "recorded_output" not in data


def test_the_case_catches_its_incident_and_replays_against_a_server(
    pytester: pytest.Pytester,
    chat_server: ChatServer,
    endpoint_args: list[str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # pytester's folder is the working directory: the trace and the catalogue are written there.
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    (pytester.path / "loop.jsonl").write_text(ox.jsonl(ox.pairs()), encoding="utf-8")
    assert main(["new", "--from-trace", "loop.jsonl", *FLAGS]) == 0
    with_expect(CASE, "  - not_contains: approved\n")
    assert main(["validate", "--check-recorded", CASE]) == 0
    capsys.readouterr()
    # The model still says what it said: the case fails, its recorded incident passes.
    chat_server.set_script([Reply(content=ox.ANSWER)])
    result = pytester.runpytest(*endpoint_args, "-v")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*INC-2025-bot-made-up-a-refund?recorded? PASSED*"])
    sent = chat_server.requests[-1].body["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "tool"]


def test_a_responses_trace_becomes_a_case(in_tmp: Path) -> None:
    request = {
        "model": "gpt-4.1",
        "instructions": ox.SYSTEM,
        "input": ox.QUESTION,
        "tools": [{"type": "function", "name": "lookup_order", "parameters": {"type": "object"}}],
    }
    response = {
        "object": "response",
        "output": [
            {
                "type": "function_call",
                "call_id": "call_1",
                "name": "lookup_order",
                "arguments": '{"order_id": "42"}',
            }
        ],
    }
    Path("r.json").write_text(json.dumps({"request": request, "response": response}))
    assert main(["new", "--from-trace", "r.json", *FLAGS]) == 0
    data = case_data()
    assert data["incident"]["source"] == {"format": "openai-responses", "file": "r.json"}
    assert data["input"]["messages"] == [{"role": "user", "content": ox.QUESTION}]
    assert data["recorded_tool_calls"] == [
        {"name": "lookup_order", "arguments": {"order_id": "42"}}
    ]


def test_credentials_in_the_trace_are_not_copied(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pair = ox.pairs()[1]
    leaked = f"it fails with Authorization: Bearer {ox.API_KEY}"
    pair["request"]["messages"][1]["content"] = leaked
    Path("t.json").write_text(json.dumps(pair))
    assert main(["new", "--from-trace", "t.json", *FLAGS]) == 0
    assert "note: credentials found in the trace are redacted\n" in capsys.readouterr().out
    text = Path(CASE).read_text(encoding="utf-8")
    assert ox.API_KEY not in text
    assert "[redacted: credentials]" in text


def test_what_the_importer_guessed_is_a_note(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pair = ox.pairs()[1]
    pair["request"]["messages"][0]["role"] = "developer"
    Path("t.json").write_text(json.dumps(pair))
    assert main(["new", "--from-trace", "t.json", *FLAGS]) == 0
    assert (
        "note: the importer guessed: the developer message is taken as the system prompt\n"
        in capsys.readouterr().out
    )


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        (None, ["--call", "5"], "loop.jsonl: --call 5 is out of range: it holds 2 calls"),
        ('{"spans": []}', [], "not a trace format this tool reads (tried: openai-chat"),
        (
            'data: {"object": "chat.completion.chunk", "choices": []}\n\ndata: [DONE]\n\n',
            [],
            "no call has a tool call or an output",
        ),
        (
            'data: {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": '
            '{"content": "hi"}}]}\n\n',
            [],
            "the trace holds no conversation for this call, only its answer",
        ),
    ],
)
def test_a_trace_that_makes_no_case_is_one_line_and_writes_nothing(
    trace: str,
    capsys: pytest.CaptureFixture[str],
    content: str | None,
    args: list[str],
    message: str,
) -> None:
    if content is not None:
        Path(trace).write_text(content, encoding="utf-8")
    assert main(["new", "--from-trace", trace, *args, *FLAGS]) == 2
    err = capsys.readouterr().err
    assert err.startswith("incident-evals new: ")
    assert message in err
    assert err.count("\n") == 1
    assert not Path("incident_cases").exists()


@pytest.mark.parametrize("flag", [["--format", "openai-chat"], ["--call", "0"]])
def test_trace_flags_need_from_trace(
    in_tmp: Path, capsys: pytest.CaptureFixture[str], flag: list[str]
) -> None:
    assert main(["new", *flag, *FLAGS]) == 2
    assert f"{flag[0]} goes with --from-trace FILE" in capsys.readouterr().err


def test_a_source_with_unknown_keys_is_invalid(
    trace: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["new", "--from-trace", trace, *FLAGS]) == 0
    with_expect(CASE, "  - not_contains: approved\n")
    text = Path(CASE).read_text(encoding="utf-8")
    Path(CASE).write_text(
        text.replace("    file: loop.jsonl\n", "    file: loop.jsonl\n    url: x\n")
    )
    capsys.readouterr()
    assert main(["validate", CASE]) == 1
    assert "incident.source" in capsys.readouterr().out


def test_an_opentelemetry_trace_becomes_a_case_linked_to_its_span(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import otlp_fixtures as of

    chat = of.span(
        "00f067aa0ba902b7",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.system_instructions": of.encoded([of.text(ox.SYSTEM)]),
            "gen_ai.input.messages": of.encoded(
                [{"role": "user", "parts": [of.text(ox.QUESTION)]}]
            ),
            "gen_ai.output.messages": of.encoded(
                [
                    {
                        "role": "assistant",
                        "parts": [
                            {
                                "type": "tool_call",
                                "id": "call_1",
                                "name": "lookup_order",
                                "arguments": {"order_id": "42"},
                            }
                        ],
                    }
                ]
            ),
        },
        start=1_700_000_000_000_000_000,
    )
    Path("trace.json").write_text(json.dumps(of.traces(chat)), encoding="utf-8")

    assert main(["calls", "trace.json", "--json"]) == 0
    [call] = json.loads(capsys.readouterr().out)
    assert call["format"] == "otlp"
    assert call["tool_calls"][0]["arguments"] == {"order_id": "42"}

    assert main(["new", "--from-trace", "trace.json", *FLAGS]) == 0
    data = case_data()
    assert data["incident"]["source"] == {
        "format": "otlp",
        "file": "trace.json",
        "trace_id": of.TRACE_ID,
        "span_id": "00f067aa0ba902b7",
    }
    assert data["input"]["system"] == ox.SYSTEM
    assert data["recorded_tool_calls"] == [
        {"name": "lookup_order", "arguments": {"order_id": "42"}}
    ]
    with_expect(CASE, "  - tool_not_called: lookup_order\n")
    capsys.readouterr()
    assert main(["validate", "--check-recorded", CASE]) == 0, capsys.readouterr()


def _chat_pair(created: Any) -> dict[str, Any]:
    return {
        "request": {"model": "gpt-4o", "messages": [{"role": "user", "content": ox.QUESTION}]},
        "response": {
            "object": "chat.completion",
            "created": created,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}}],
        },
    }


RESPONSES_PAIR = {
    "request": {"model": "gpt-4.1", "input": ox.QUESTION},
    "response": {
        "object": "response",
        "created_at": 1_741_000_000,
        "output": [
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": ox.ANSWER}],
            }
        ],
    },
}


@pytest.mark.parametrize(
    ("file", "record", "day"),
    [
        ("r.json", RESPONSES_PAIR, "2025-03-03"),
        ("c.json", _chat_pair("1741000000"), "2025-03-03"),
        ("c.json", _chat_pair(99), None),
    ],
)
def test_the_case_is_dated_when_the_call_was_made(
    in_tmp: Path, file: str, record: dict[str, Any], day: str | None
) -> None:
    Path(file).write_text(json.dumps(record), encoding="utf-8")
    flags = [flag for flag in FLAGS if flag not in ("--date", "2025-12-01")]
    assert main(["new", "--from-trace", file, *flags]) == 0
    [written] = Path("incident_cases/correctness").glob("*.yaml")
    data = yaml.safe_load(written.read_text(encoding="utf-8"))
    # A time that cannot be one (1970) is not taken: the case is dated today.
    assert data["incident"]["date"] == (day or dt.date.today().isoformat())
