"""``--incident-api chat|responses`` and ``model.api``: replays over the Responses API against the
scripted server (through the real openai SDK), giving what the same script gives over Chat."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from case_files import case_data, write_case
from chat_server import ChatServer, Reply
from example_cases import CATALOGUE
from incident_evals.cli import main

CHAT_PATH = "/v1/chat/completions"
RESPONSES_PATH = "/v1/responses"

ORDER_TOOLS = [
    {
        "name": "lookup_order",
        "description": "Look an order up.",
        "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}},
        "responses": [
            {"when": {"order_id": "A1"}, "output": {"status": "shipped"}},
            {"output": {"error": "not found"}},
        ],
    }
]


def tool_loop_script() -> list[Reply]:
    return [
        Reply(
            tool_calls=[
                {"name": "lookup_order", "arguments": {"order_id": "A1"}},
                {"name": "lookup_order", "arguments": {"order_id": "Z9"}},
            ],
            reasoning="Look both orders up.",
        ),
        Reply(content="Order A1 has shipped; Z9 was not found."),
    ]


def write_tool_loop_case(directory: Path, **model: Any) -> None:
    write_case(
        directory,
        "incident_cases/orders.yaml",
        case_data(
            "INC-ORDERS",
            category="autonomy",
            input={
                "system": "Answer from the order system only.",
                "messages": [{"role": "user", "content": "Where are A1 and Z9?"}],
                "tools": ORDER_TOOLS,
            },
            model={"temperature": 0, "max_tokens": 50, "seed": 3, **model},
            expect=[{"contains": "shipped"}, {"not_contains": "refund"}],
        ),
    )


def literal(text: str) -> str:
    """``text`` as an fnmatch pattern matching itself (brackets are character classes there)."""
    return text.replace("[", "[[]")


def report(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return data


def test_a_tool_loop_over_responses_sends_items_and_answers_from_the_recorded_responses(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str]
) -> None:
    write_tool_loop_case(pytester.path)
    chat_server.set_script(tool_loop_script())

    result = pytester.runpytest(*endpoint_args, "--incident-api", "responses")

    result.assert_outcomes(passed=1)
    assert [r.path for r in chat_server.requests] == [RESPONSES_PATH, RESPONSES_PATH]
    first, second = (r.body for r in chat_server.requests)
    assert first["instructions"] == "Answer from the order system only."
    assert first["input"] == [{"role": "user", "content": "Where are A1 and Z9?"}]
    assert first["tools"][0]["name"] == "lookup_order"
    assert first["tools"][0]["strict"] is False
    assert first["max_output_tokens"] == 50
    assert "seed" not in first
    assert first["store"] is False
    assert second["store"] is False
    assert "previous_response_id" not in second
    calls = [item for item in second["input"] if item.get("type") == "function_call"]
    outputs = [item for item in second["input"] if item.get("type") == "function_call_output"]
    assert [c["call_id"] for c in calls] == [o["call_id"] for o in outputs]
    assert [json.loads(o["output"]) for o in outputs] == [
        {"status": "shipped"},
        {"error": "not found"},
    ]


def test_the_same_script_gives_the_same_verdicts_and_tool_answers_over_both_apis(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str]
) -> None:
    write_tool_loop_case(pytester.path)
    seen: dict[str, dict[str, Any]] = {}
    for api in ("chat", "responses"):
        chat_server.set_script(tool_loop_script())
        result = pytester.runpytest(
            *endpoint_args, "--incident-api", api, f"--incident-report={api}.json"
        )
        result.assert_outcomes(passed=1)
        [item] = report(pytester.path / f"{api}.json")["items"]
        seen[api] = item

    for key in ("outcome", "output", "failures"):
        assert seen["chat"][key] == seen["responses"][key], key
    # The server numbers call ids across runs: everything else of each call is the same.
    calls = {
        api: [{k: v for k, v in call.items() if k != "id"} for call in item["tool_calls"]]
        for api, item in seen.items()
    }
    assert calls["chat"] == calls["responses"]
    assert [call["output"] for call in seen["responses"]["tool_calls"]] == [
        {"status": "shipped"},
        {"error": "not found"},
    ]
    assert (seen["chat"]["api"], seen["responses"]["api"]) == ("chat", "responses")


@pytest.mark.parametrize(
    ("how", "expected"),
    [
        ("flag", RESPONSES_PATH),
        ("env", RESPONSES_PATH),
        ("ini", RESPONSES_PATH),
        ("flag chat over env responses", CHAT_PATH),
        ("env responses over ini chat", RESPONSES_PATH),
        ("default", CHAT_PATH),
    ],
)
def test_the_flag_then_the_environment_then_the_ini_choose_the_api(
    pytester: pytest.Pytester,
    chat_server: ChatServer,
    endpoint_args: list[str],
    monkeypatch: pytest.MonkeyPatch,
    how: str,
    expected: str,
) -> None:
    write_case(pytester.path, "incident_cases/a.yaml", case_data("INC-A"))
    args = list(endpoint_args)
    if how == "flag":
        args.append("--incident-api=responses")
    elif how == "env":
        monkeypatch.setenv("INCIDENT_EVALS_API", "responses")
    elif how == "ini":
        pytester.makeini("[pytest]\nincident_api = responses\n")
    elif how == "flag chat over env responses":
        monkeypatch.setenv("INCIDENT_EVALS_API", "responses")
        args.append("--incident-api=chat")
    elif how == "env responses over ini chat":
        pytester.makeini("[pytest]\nincident_api = chat\n")
        monkeypatch.setenv("INCIDENT_EVALS_API", "responses")

    result = pytester.runpytest(*args)

    result.assert_outcomes(passed=1)
    assert [r.path for r in chat_server.requests] == [expected]
    header = [line for line in result.outlines if "over the Responses API" in line]
    source = {"flag": "--incident-api", "ini": "incident_api"}.get(how, "INCIDENT_EVALS_API")
    expected_header = [f"incident-evals: over the Responses API ({source}); model.api wins"]
    assert header == (expected_header if expected == RESPONSES_PATH else [])


def test_a_case_model_api_wins_over_the_run(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str]
) -> None:
    write_case(
        pytester.path,
        "incident_cases/cases.yaml",
        case_data("INC-CHAT"),
        case_data("INC-RESP", model={"api": "responses"}),
    )

    result = pytester.runpytest(*endpoint_args, "--incident-api=chat", "--incident-report=r.json")

    result.assert_outcomes(passed=2)
    by_case = {
        r.body.get("messages", [{}])[-1].get("content") or r.body["input"][-1]["content"]: r.path
        for r in chat_server.requests
    }
    assert by_case == {"question for INC-CHAT": CHAT_PATH, "question for INC-RESP": RESPONSES_PATH}
    apis = {item["case_id"]: item["api"] for item in report(pytester.path / "r.json")["items"]}
    assert apis == {"INC-CHAT": "chat", "INC-RESP": "responses"}


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (
            "flag",
            "*error: argument --incident-api: expected chat or responses, got 'grpc'",
        ),
        (
            "env",
            "ERROR: environment variable INCIDENT_EVALS_API (twin of --incident-api): expected "
            "chat or responses, got 'grpc'",
        ),
        (
            "ini",
            "ERROR: ini option incident_api (twin of --incident-api): expected chat or "
            "responses, got 'grpc'",
        ),
    ],
)
def test_an_unknown_api_stops_the_run_naming_where_it_came_from(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, setup: str, message: str
) -> None:
    write_case(pytester.path, "incident_cases/a.yaml", case_data("INC-A"))
    args = ["--incident-evals", "--incident-base-url=http://127.0.0.1:9/v1", "--incident-model=m"]
    if setup == "flag":
        args.append("--incident-api=grpc")
    elif setup == "env":
        monkeypatch.setenv("INCIDENT_EVALS_API", "grpc")
    else:
        pytester.makeini("[pytest]\nincident_api = grpc\n")

    result = pytester.runpytest(*args, "-p", "no:cacheprovider")

    result.stderr.fnmatch_lines([message])
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_an_unknown_case_api_is_one_load_error_and_validate_rejects_it(
    pytester: pytest.Pytester,
    chat_server: ChatServer,
    endpoint_args: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    write_case(pytester.path, "incident_cases/bad.yaml", case_data("INC-BAD", model={"api": "x"}))
    write_case(pytester.path, "incident_cases/good.yaml", case_data("INC-GOOD"))

    result = pytester.runpytest(*endpoint_args)

    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [literal("*bad.yaml:13: model.api: 'x' is not one of ['chat', 'responses']")]
    )
    capsys.readouterr()  # the run's own output
    assert main(["validate", str(pytester.path / "incident_cases")]) == 1
    shown = capsys.readouterr().out
    assert "bad.yaml:13: model.api: 'x' is not one of ['chat', 'responses']" in shown
    assert "good.yaml" not in shown


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (
            {"status": "completed", "output": [{"type": "function_call", "name": "lookup_order"}]},
            "output[0].call_id is missing",
        ),
        ({"status": "completed", "output": []}, "output is empty"),
        (
            {"status": "failed", "error": {"message": "boom"}, "output": []},
            "it holds an error, not a response: 'boom'",
        ),
    ],
)
def test_a_malformed_responses_answer_is_an_error_never_a_pass(
    pytester: pytest.Pytester,
    chat_server: ChatServer,
    endpoint_args: list[str],
    body: dict[str, Any],
    problem: str,
) -> None:
    # not_contains would pass an empty output: the answer must be an error instead.
    write_case(
        pytester.path,
        "incident_cases/a.yaml",
        case_data("INC-A", expect=[{"not_contains": "refund"}]),
    )
    chat_server.set_script([Reply(raw_body=json.dumps(body))])

    result = pytester.runpytest(*endpoint_args, "--incident-api=responses")

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [literal(f"*INC-A: endpoint error: malformed answer from the endpoint: {problem}")]
    )


def test_recordings_are_keyed_apart_by_api(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str]
) -> None:
    write_tool_loop_case(pytester.path)
    chat_server.set_script(tool_loop_script())
    recorded = pytester.runpytest(*endpoint_args, "--incident-record=rec")
    recorded.assert_outcomes(passed=1)

    offline = ["--incident-evals", "-p", "no:cacheprovider", "--incident-replay=rec"]
    over_chat = pytester.runpytest(*offline)
    over_chat.assert_outcomes(passed=1)
    over_responses = pytester.runpytest(*offline, "--incident-api=responses")
    over_responses.assert_outcomes(errors=1)
    over_responses.stdout.fnmatch_lines(
        ["*no recording for case INC-ORDERS (sample 0) in *rec/: the request differs*"]
    )

    chat_server.set_script(tool_loop_script())
    pytester.runpytest(
        *endpoint_args, "--incident-record=rec", "--incident-api=responses"
    ).assert_outcomes(passed=1)
    pytester.runpytest(*offline, "--incident-api=responses").assert_outcomes(passed=1)
    files = sorted((pytester.path / "rec" / "INC-ORDERS").glob("*.json"))
    records = [json.loads(path.read_text("utf-8")) for path in files]
    # Two exchanges per API; the Responses ones hold what went over the wire.
    assert sorted(record.get("api", "chat") for record in records) == [
        "chat",
        "chat",
        "responses",
        "responses",
    ]
    assert all(
        "input" in record["request"] and "output" in record["response"]
        for record in records
        if record.get("api") == "responses"
    )


def test_a_baseline_over_the_other_api_says_so(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str]
) -> None:
    write_case(pytester.path, "incident_cases/a.yaml", case_data("INC-A"))
    pytester.runpytest(*endpoint_args, "--incident-report=chat.json").assert_outcomes(passed=1)

    result = pytester.runpytest(
        *endpoint_args,
        "--incident-api=responses",
        "--incident-baseline=chat.json",
        "--incident-report=responses.json",
    )

    result.assert_outcomes(passed=1)
    line = (
        "API differs from the baseline for 1 of 1 compared items (1 over responses here and "
        "over chat in the baseline): a change may come from the API, not the model"
    )
    result.stdout.fnmatch_lines([line])
    assert report(pytester.path / "responses.json")["run"]["baseline"]["api_difference"] == line


def catalogue_script(body: dict[str, Any]) -> Reply:
    """One answer for either API's request: call the first tool once, then echo the user."""
    tools = body.get("tools") or []
    if "input" in body:
        answered = any(i.get("type") == "function_call_output" for i in body["input"])
        users = [i for i in body["input"] if i.get("role") == "user"]
        names = [tool["name"] for tool in tools]
    else:
        answered = any(m.get("role") == "tool" for m in body["messages"])
        users = [m for m in body["messages"] if m.get("role") == "user"]
        names = [tool["function"]["name"] for tool in tools]
    if names and not answered:
        return Reply(tool_calls=[{"name": names[0], "arguments": {}}])
    last = users[-1]["content"] if users else ""
    text = last if isinstance(last, str) else " ".join(p.get("text", "") for p in last)
    return Reply(content=f"Answer: {text}")


def test_the_example_catalogue_gives_the_same_verdicts_over_both_apis(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str]
) -> None:
    shutil.copytree(CATALOGUE, pytester.path / "incident_cases")
    chat_server.set_script(catalogue_script)
    verdicts: dict[str, dict[str, tuple[Any, ...]]] = {}
    for api in ("chat", "responses"):
        pytester.runpytest(*endpoint_args, f"--incident-api={api}", f"--incident-report={api}.json")
        verdicts[api] = {
            item["nodeid"]: (
                item["outcome"],
                item["output"],
                [(c["name"], c.get("output")) for c in item["tool_calls"]],
            )
            for item in report(pytester.path / f"{api}.json")["items"]
        }

    assert verdicts["chat"] == verdicts["responses"]
    outcomes = {verdict[0] for verdict in verdicts["chat"].values()}
    # The catalogue exercises both verdicts, and its tool cases ran the tool loop.
    assert {"passed", "failed"} <= outcomes
    assert any(verdict[2] for verdict in verdicts["chat"].values())
    paths = {r.path for r in chat_server.requests}
    assert paths == {CHAT_PATH, RESPONSES_PATH}


def test_the_judge_speaks_the_runs_api(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str]
) -> None:
    write_case(
        pytester.path,
        "incident_cases/a.yaml",
        case_data("INC-A", expect=[{"judge": "The reply gives the 30-day refund window."}]),
    )

    def respond(body: dict[str, Any]) -> Reply:
        if "strict evaluator" in str(body.get("instructions")):
            return Reply(content=json.dumps({"verdict": "pass", "reason": "it says 30 days"}))
        return Reply(content="Refunds within 30 days.")

    chat_server.set_script(respond)

    result = pytester.runpytest(
        *endpoint_args, "--incident-api=responses", "--incident-judge-model=judge"
    )

    result.assert_outcomes(passed=1)
    assert [r.path for r in chat_server.requests] == [RESPONSES_PATH, RESPONSES_PATH]
    assert chat_server.requests[1].body["model"] == "judge"


TARGET_CONFTEST = """
def pytest_incident_evals_target(config):
    def run(request):
        assert request["store"] is False
        said = request["input"][-1]["content"]
        return {
            "model": "bot",
            "status": "completed",
            "output": [
                {
                    "type": "message",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": "bot: " + said}],
                }
            ],
        }

    return run
"""


def test_the_target_gets_and_gives_the_responses_form(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(TARGET_CONFTEST)
    write_case(
        pytester.path,
        "incident_cases/a.yaml",
        case_data("INC-A", expect=[{"contains": "bot: question for INC-A"}]),
    )

    result = pytester.runpytest(
        "--incident-evals", "-p", "no:cacheprovider", "--incident-api=responses"
    )

    result.assert_outcomes(passed=1)
