"""Hostile endpoints: answers that are not completions, faults, and endpoints that are gone.

Every case here has only a negative constraint (``not_contains``), which an empty output would
pass: a broken answer must make the item an ERROR with one line naming the cause, never a pass
and never a traceback. Each run also writes its results file, which must stay valid against the
shipped schema and be accepted by ``incident-evals report``.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from case_files import case_data, write_case
from chat_server import ChatServer, Reply
from incident_evals.case import load_schema
from incident_evals.cli import main
from incident_evals.client import MAX_ANSWER_BYTES

CASE_ID = "INC-HOSTILE"
CASE_FILE = "incident_cases/hostile.yaml"
#: What the scripted server sends when a test does not say otherwise: a well-formed answer.
GOOD = {"role": "assistant", "content": "Refunds are possible within 30 days."}
#: `incident-evals report` exits 3 (INCOMPLETE) on a run with errors; 2 would mean it refused
#: the file.
REPORT_INCOMPLETE = 3


def literal(text: str) -> str:
    """``text`` as an fnmatch pattern that matches only itself."""
    return "".join(f"[{ch}]" if ch in "[]*?" else ch for ch in text)


def answer(message: Any = None, **fields: Any) -> str:
    """A completion body with ``message`` (default: a good one) and top-level ``fields``."""
    choice = {"index": 0, "message": GOOD if message is None else message, "finish_reason": "stop"}
    body: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "test-model",
        "choices": [choice],
        "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12},
        **fields,
    }
    return json.dumps(body)


def write_hostile_case(directory: Path, **fields: Any) -> None:
    fields.setdefault("expect", [{"not_contains": "60 days"}])
    write_case(directory, CASE_FILE, case_data(CASE_ID, severity="critical", **fields))


def assert_error_everywhere(pytester: pytest.Pytester, result: pytest.RunResult, line: str) -> None:
    """The item is an error with ``line`` on the terminal, in a valid, readable results file."""
    result.stdout.fnmatch_lines([literal(line)])
    result.assert_outcomes(errors=1, passed=0)
    assert "Traceback" not in result.stdout.str()
    path = pytester.path / "results.json"
    results = json.loads(path.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(load_schema("results")).validate(results)
    [item] = results["items"]
    assert (item["outcome"], item["output"], item["pass_rate"]) == ("error", "", None)
    assert line.split(": ", 1)[1] in item["error"]
    assert main(["report", str(path)]) == REPORT_INCOMPLETE


# --- answers that are not completions (status 200) -------------------------------------------

MALFORMED = [
    pytest.param(Reply(raw_body='{"choices": []}'), "choices is empty", id="no-choices"),
    pytest.param(
        Reply(raw_body='{"id": "x", "object": "chat.completion"}'),
        "choices is missing",
        id="choices-missing",
    ),
    pytest.param(
        Reply(
            raw_body=json.dumps(
                {"error": {"message": "The server is overloaded.", "type": "server_error"}}
            )
        ),
        "it holds an error, not a completion: 'The server is overloaded.'",
        id="error-object-with-200",
    ),
    pytest.param(
        Reply(raw_body='{"error": "upstream timed out"}'),
        "it holds an error, not a completion: 'upstream timed out'",
        id="error-string-with-200",
    ),
    pytest.param(
        Reply(raw_body='{"choices": [null]}'),
        "choices[0] is null, expected an object",
        id="choice-null",
    ),
    pytest.param(
        Reply(raw_body=answer("You have 60 days.")),
        "choices[0].message is a string, expected an object",
        id="message-a-string",
    ),
    pytest.param(
        Reply(raw_body='{"choices": [{"index": 0, "finish_reason": "stop"}]}'),
        "choices[0].message is missing",
        id="message-missing",
    ),
    pytest.param(
        Reply(raw_body=answer({"role": "assistant", "content": None})),
        "choices[0].message has no content, tool calls or refusal (finish_reason 'stop')",
        id="content-null-and-nothing-else",
    ),
    pytest.param(
        Reply(raw_body=answer({"role": "assistant", "content": 60})),
        "choices[0].message.content is an integer, expected a string, null or an array of "
        "content parts",
        id="content-a-number",
    ),
    pytest.param(
        Reply(
            raw_body=answer(
                {"role": "assistant", "content": [{"type": "image_url", "image_url": {}}]}
            )
        ),
        "choices[0].message.content has no text part (only 'image_url')",
        id="content-parts-without-text",
    ),
    pytest.param(
        Reply(
            raw_body=answer(
                {
                    "role": "assistant",
                    "content": "",
                    "tool_calls": {"id": "c1", "function": {"name": "x", "arguments": "{}"}},
                }
            )
        ),
        "choices[0].message.tool_calls is an object, expected an array",
        id="tool-calls-a-dict",
    ),
    pytest.param(
        Reply(raw_body=answer({"role": "assistant", "tool_calls": [{"id": "c1"}]})),
        "choices[0].message.tool_calls[0].function is missing",
        id="tool-call-without-function",
    ),
    pytest.param(
        Reply(
            raw_body=answer(
                {"role": "assistant", "tool_calls": [{"function": {"arguments": "{}"}}]}
            )
        ),
        "choices[0].message.tool_calls[0].function.name is missing",
        id="tool-call-without-name",
    ),
    pytest.param(
        Reply(raw_body=answer({"role": "assistant", "content": "ok", "refusal": ["no"]})),
        "choices[0].message.refusal is an array, expected a string or null",
        id="refusal-not-text",
    ),
    pytest.param(
        Reply(raw_body=answer(usage="lots")),
        "usage is a string, expected an object or null",
        id="usage-not-a-dict",
    ),
    pytest.param(
        Reply(raw_body=answer(usage={"prompt_tokens": "5", "total_tokens": 12})),
        "usage.prompt_tokens is a string, expected a whole number of tokens",
        id="usage-tokens-not-numbers",
    ),
    pytest.param(
        Reply(raw_body=answer(model={"name": "gpt"})),
        "model is an object, expected a string or null",
        id="model-not-a-string",
    ),
    pytest.param(
        Reply(raw_body=json.dumps({"choices": [{"message": GOOD, "finish_reason": 0}]})),
        "choices[0].finish_reason is an integer, expected a string or null",
        id="finish-reason-a-number",
    ),
    pytest.param(
        Reply(raw_body="Refunds: 30 days"), "the body is not JSON: 'Refunds: 30 days'", id="text"
    ),
    pytest.param(
        Reply(
            raw_body="<html><body>" + "Gateway OK " * 50 + "</body></html>",
            headers={"Content-Type": "text/html"},
        ),
        "the body is not JSON: '<html><body>Gateway OK Gateway OK Gateway OK Gateway OK Gateway "
        "OK Gateway OK Ga'… (576 characters)",
        id="html-page",
    ),
    pytest.param(
        Reply(raw_body='[{"message": {"content": "30 days"}}]'),
        'the body is an array, expected an object: \'[{"message": {"content": "30 days"}}]\'',
        id="json-array",
    ),
    pytest.param(Reply(raw_body=""), "the body is empty", id="empty-body"),
    pytest.param(
        Reply(raw_body='{"choices": [], "usage": {"total_tokens": Infinity}}'),
        'the body is not JSON: \'{"choices": [], "usage": {"total_tokens": Infinity}}\'',
        id="infinity",
    ),
    pytest.param(
        Reply(raw_body="[" * 200_000),
        "the body is nested deeper than 100 levels",
        id="nested-too-deep",
    ),
]


@pytest.mark.parametrize(("reply", "problem"), MALFORMED)
def test_a_malformed_answer_is_an_error_never_a_pass(
    pytester: pytest.Pytester,
    chat_server: ChatServer,
    endpoint_args: list[str],
    reply: Reply,
    problem: str,
) -> None:
    write_hostile_case(pytester.path)
    # Malformed answers are not retried: a second attempt would get a good answer.
    chat_server.set_script([reply, Reply(content="fine")])

    result = pytester.runpytest(
        *endpoint_args, "--incident-retries=2", "--incident-report=results.json"
    )

    assert_error_everywhere(
        pytester,
        result,
        f"{CASE_ID}: endpoint error: malformed answer from the endpoint: {problem}",
    )
    assert len(chat_server.requests) == 1


def test_a_malformed_answer_in_the_tool_loop_is_an_error(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str]
) -> None:
    tool = {"name": "lookup", "responses": [{"output": {"window": "30 days"}}]}
    write_hostile_case(pytester.path, input={"tools": [tool]})
    chat_server.set_script(
        [
            Reply(tool_calls=[{"name": "lookup", "arguments": "{}"}]),
            Reply(raw_body=answer({"role": "assistant", "tool_calls": [None]})),
        ]
    )

    result = pytester.runpytest(*endpoint_args, "--incident-report=results.json")

    assert_error_everywhere(
        pytester,
        result,
        f"{CASE_ID}: endpoint error: malformed answer from the endpoint: "
        "choices[0].message.tool_calls[0] is null, expected an object",
    )


# --- answers too large or too slow ------------------------------------------------------------

TOO_LARGE = (
    "the endpoint's answer is larger than 8 MiB, the most one answer may hold (after 1 attempt)"
)


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param(Reply(raw_body=b" " * (MAX_ANSWER_BYTES + 1)), id="content-length"),
        pytest.param(
            Reply(raw_body=b" " * (MAX_ANSWER_BYTES + 1), chunk_size=1024 * 1024), id="chunked"
        ),
        pytest.param(
            Reply(
                raw_body=gzip.compress(b" " * (16 * MAX_ANSWER_BYTES)),
                headers={"Content-Encoding": "gzip"},
            ),
            id="gzip-bomb",
        ),
    ],
)
def test_a_huge_answer_is_refused_in_bounded_memory(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str], reply: Reply
) -> None:
    write_hostile_case(pytester.path)
    chat_server.set_script([reply, reply])

    # In a subprocess: its peak memory is the run's own, and a hang ends at the timeout.
    result = pytester.runpytest_subprocess(
        *endpoint_args,
        "--incident-retries=1",
        "--incident-report=results.json",
        timeout=60,
    )

    assert_error_everywhere(pytester, result, f"{CASE_ID}: endpoint error: {TOO_LARGE}")
    assert len(chat_server.requests) == 1


def test_an_answer_that_trickles_in_past_the_timeout_is_a_timeout(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str]
) -> None:
    write_hostile_case(pytester.path)
    # Every piece well within the timeout, the whole answer never: 30 s at this pace.
    trickle = Reply(raw_body=answer(), chunk_size=8, chunk_delay_s=0.1)
    chat_server.set_script([trickle, trickle])

    result = pytester.runpytest_subprocess(
        *endpoint_args,
        "--incident-timeout=1",
        "--incident-retries=1",
        "--incident-report=results.json",
        timeout=60,
    )

    assert_error_everywhere(
        pytester, result, f"{CASE_ID}: endpoint error: the request timed out (after 2 attempts)"
    )
    assert len(chat_server.requests) == 2


# --- error statuses: what is retried, what is not, and what the line says ----------------------


@pytest.mark.parametrize(
    ("reply", "requests", "line"),
    [
        pytest.param(
            Reply(status=401, error_message="Incorrect API key provided."),
            1,
            "HTTP 401 from the endpoint: Incorrect API key provided. [request id req_1] "
            "(after 1 attempt)",
            id="401-not-retried",
        ),
        pytest.param(
            Reply(status=422, error_message="messages[1].content: field required"),
            1,
            "HTTP 422 from the endpoint: messages[1].content: field required [request id req_1] "
            "(after 1 attempt)",
            id="422-not-retried",
        ),
        pytest.param(
            Reply(status=408, headers={"Retry-After": "0"}, error_message="request timeout"),
            3,
            "HTTP 408 from the endpoint: request timeout [request id req_3] (after 3 attempts)",
            id="408-retried",
        ),
        pytest.param(
            Reply(
                status=502,
                raw_body="<html><head><title>502 Bad Gateway</title></head>" + " " * 4000,
                headers={"Content-Type": "text/html", "Retry-After": "0"},
            ),
            3,
            "HTTP 502 from the endpoint: '<html><head><title>502 Bad Gateway</title></head>' "
            "(after 3 attempts)",
            id="502-html-retried",
        ),
    ],
)
def test_error_statuses_are_retried_or_not_and_counted_once(
    pytester: pytest.Pytester,
    chat_server: ChatServer,
    endpoint_args: list[str],
    reply: Reply,
    requests: int,
    line: str,
) -> None:
    write_hostile_case(pytester.path)
    chat_server.set_script(lambda body: reply)

    result = pytester.runpytest(
        *endpoint_args, "--incident-retries=2", "--incident-report=results.json"
    )

    assert_error_everywhere(pytester, result, f"{CASE_ID}: endpoint error: {line}")
    assert len(chat_server.requests) == requests


def test_faults_mixed_in_lose_nothing_and_count_nothing_twice(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str]
) -> None:
    ids = [f"INC-{n:02d}" for n in range(12)]
    write_case(pytester.path, "incident_cases/many.yaml", *(case_data(i) for i in ids))
    faults = [
        Reply(status=429, headers={"Retry-After": "0"}),
        Reply(status=500),
        Reply(status=408),
        Reply(content="late", delay_s=2.0),
        Reply(drop_connection=True),
    ]
    seen: dict[str, int] = {}

    def script(body: dict[str, Any]) -> Reply:
        question = body["messages"][-1]["content"]
        seen[question] = seen.get(question, 0) + 1
        index = ids.index(question.removeprefix("question for "))
        if seen[question] == 1 and index < 2 * len(faults):
            return faults[index % len(faults)]
        return Reply(content=f"30 days for {question}")

    chat_server.set_script(script)

    result = pytester.runpytest(
        *endpoint_args,
        "--incident-retries=1",
        "--incident-timeout=0.5",
        "--incident-report=results.json",
    )

    result.assert_outcomes(passed=len(ids))
    items = json.loads((pytester.path / "results.json").read_text())["items"]
    assert sorted(item["case_id"] for item in items) == ids
    assert [item["output"] for item in items] == [f"30 days for question for {i}" for i in ids]
    # Ten faulted cases took two requests each, the other two one: no more, no fewer.
    assert sorted(seen.values()) == [1, 1] + [2] * 10
    assert len(chat_server.requests) == 22


def test_an_endpoint_that_is_down_errors_every_item_in_bounded_time(
    pytester: pytest.Pytester,
) -> None:
    ids = [f"INC-{n:02d}" for n in range(6)]
    write_case(pytester.path, "incident_cases/many.yaml", *(case_data(i) for i in ids))
    with ChatServer() as server:
        base_url = server.base_url  # a port that answered once and is now closed

    result = pytester.runpytest_subprocess(
        "--incident-evals",
        f"--incident-base-url={base_url}",
        "--incident-model=m",
        "--incident-retries=2",
        "--incident-report=results.json",
        "-p",
        "no:cacheprovider",
        timeout=60,
    )

    result.assert_outcomes(errors=len(ids), passed=0)
    result.stdout.fnmatch_lines(
        [
            f"{case_id}: endpoint error: cannot connect to the endpoint: *Connection refused* "
            "(after 3 attempts)"
            for case_id in ids
        ],
        consecutive=False,
    )
    results = json.loads((pytester.path / "results.json").read_text())
    jsonschema.Draft202012Validator(load_schema("results")).validate(results)
    assert [item["outcome"] for item in results["items"]] == ["error"] * len(ids)


# --- recordings and targets go through the same check -----------------------------------------


def test_a_hand_edited_recording_with_a_malformed_answer_is_an_error(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str]
) -> None:
    write_hostile_case(pytester.path)
    chat_server.set_script([Reply(content="30 days")])
    pytester.runpytest(*endpoint_args, "--incident-record=recordings").assert_outcomes(passed=1)
    [recording] = (pytester.path / "recordings" / CASE_ID).glob("*.json")
    record = json.loads(recording.read_text(encoding="utf-8"))
    record["response"]["choices"][0]["message"] = "You have 60 days."
    recording.write_text(json.dumps(record), encoding="utf-8")

    result = pytester.runpytest(
        "--incident-evals",
        "--incident-replay=recordings",
        "--incident-report=results.json",
        "-p",
        "no:cacheprovider",
    )

    assert_error_everywhere(
        pytester,
        result,
        f"{CASE_ID}: endpoint error: malformed answer from the recording of case {CASE_ID} "
        f"(sample 0) in {pytester.path / 'recordings'}/: choices[0].message is a string, "
        "expected an object",
    )


def test_a_target_that_returns_a_malformed_answer_is_an_error(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        "def bot(request):\n"
        "    return {'choices': [{'message': {'role': 'assistant', 'content': None}}]}\n"
        "\n"
        "def pytest_incident_evals_target(config):\n"
        "    return bot\n"
    )
    write_hostile_case(pytester.path)

    result = pytester.runpytest(
        "--incident-evals", "--incident-report=results.json", "-p", "no:cacheprovider"
    )

    assert_error_everywhere(
        pytester,
        result,
        f"{CASE_ID}: endpoint error: malformed answer from the target bot: choices[0].message "
        "has no content, tool calls or refusal",
    )


# --- odd but valid answers are read, not refused ----------------------------------------------


def test_content_parts_are_read_as_the_output(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str]
) -> None:
    write_hostile_case(pytester.path)
    parts = [
        {"type": "text", "text": "You have "},
        {"type": "image_url", "image_url": {"url": "https://example.com/policy.png"}},
        {"type": "text", "text": "60 days."},
    ]
    chat_server.set_script([Reply(raw_body=answer({"role": "assistant", "content": parts}))])

    result = pytester.runpytest(*endpoint_args, "--incident-report=results.json")

    # Read as text, the parts say what the constraint forbids: a failure, not a silent pass.
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*not_contains*60 days*"])
    items = json.loads((pytester.path / "results.json").read_text())["items"]
    assert items[0]["output"] == "You have 60 days."


def test_a_refusal_field_is_an_answer(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str]
) -> None:
    write_case(
        pytester.path,
        CASE_FILE,
        case_data(CASE_ID, severity="critical", expect=[{"refuses": True}]),
    )
    refusal = {"role": "assistant", "content": None, "refusal": "I can't help with that."}
    chat_server.set_script([Reply(raw_body=answer(refusal))])

    result = pytester.runpytest(*endpoint_args)

    result.assert_outcomes(passed=1)


def test_arguments_as_an_object_and_malformed_arguments_are_judged_not_crashed(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str]
) -> None:
    tool = {
        "name": "send_email",
        "parameters": {"type": "object", "properties": {"to": {"type": "string"}}},
        "responses": [{"output": {"status": "sent"}}],
    }
    schema = {"properties": {"to": {"enum": ["finance@acme.example"]}}, "required": ["to"]}
    write_hostile_case(
        pytester.path,
        input={"tools": [tool]},
        expect=[{"tool_args": {"tool": "send_email", "schema": schema}}],
    )
    calls = [
        {
            "id": "c1",
            "type": "function",
            "function": {"name": "send_email", "arguments": {"to": "finance@acme.example"}},
        },
        {
            "id": "c2",
            "type": "function",
            "function": {"name": "send_email", "arguments": '{"to": "all-staff@'},
        },
    ]
    chat_server.set_script(
        [
            Reply(raw_body=answer({"role": "assistant", "content": None, "tool_calls": calls})),
            Reply(content="Sent."),
        ]
    )

    result = pytester.runpytest(*endpoint_args, "--incident-report=results.json")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*send_email call 2*arguments are not valid JSON*"])
    [first, second] = json.loads((pytester.path / "results.json").read_text())["items"][0][
        "tool_calls"
    ]
    assert (first["arguments_raw"], first["arguments"]) == (
        '{"to": "finance@acme.example"}',
        {"to": "finance@acme.example"},
    )
    assert second["arguments"] is None
    assert second["arguments_error"].startswith("arguments are not valid JSON")
    # The object went back to the endpoint as the text it stands for.
    sent = chat_server.requests[1].body["messages"][-3]["tool_calls"][0]["function"]
    assert sent["arguments"] == '{"to": "finance@acme.example"}'


# --- requests: slow endpoints and strict servers ----------------------------------------------


def test_concurrent_slow_answers_just_under_the_timeout_all_arrive(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str]
) -> None:
    # The timeout runs from when each request is sent: none waits in the client behind others.
    concurrency = 12
    ids = [f"INC-{n:02d}" for n in range(concurrency)]
    write_case(pytester.path, "incident_cases/many.yaml", *(case_data(i) for i in ids))
    chat_server.set_script(lambda body: Reply(content="30 days", delay_s=0.7))

    result = pytester.runpytest(
        *endpoint_args, f"--incident-concurrency={concurrency}", "--incident-timeout=1"
    )

    result.assert_outcomes(passed=concurrency)
    assert chat_server.max_in_flight == concurrency
    assert len(chat_server.requests) == concurrency


def test_a_case_from_new_from_openai_is_sent_in_the_form_strict_servers_accept(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str]
) -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}
    tool = {"name": "lookup", "responses": [{"output": {"window": "30 days"}}]}
    conversation = [
        {"role": "user", "content": "How long do refunds take?"},
        # As OpenAI writes it, and `incident-evals new --from-openai` keeps it.
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": '{"window": "30 days"}'},
    ]
    write_hostile_case(pytester.path, input={"messages": conversation, "tools": [tool]})
    chat_server.set_script([Reply(content="Within 30 days.")])

    result = pytester.runpytest(*endpoint_args)

    result.assert_outcomes(passed=1)
    [request] = chat_server.requests
    assert request.body["messages"][1] == {"role": "assistant", "content": "", "tool_calls": [call]}


def test_a_malformed_judge_answer_is_a_judge_error(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str]
) -> None:
    write_hostile_case(pytester.path, expect=[{"judge": "The answer quotes the 30-day policy."}])

    def script(body: dict[str, Any]) -> Reply:
        if body["model"] == "judge-model":
            return Reply(raw_body='{"choices": [{"message": {"content": {"verdict": "pass"}}}]}')
        return Reply(content="30 days")

    chat_server.set_script(script)

    result = pytester.runpytest(
        *endpoint_args, "--incident-judge-model=judge-model", "--incident-report=results.json"
    )

    assert_error_everywhere(
        pytester,
        result,
        f"{CASE_ID}: judge error: malformed answer from the judge: choices[0].message.content "
        "is an object, expected a string, null or an array of content parts (after 1 attempt)",
    )
