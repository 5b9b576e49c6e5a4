"""``--incident-base-url``, ``--incident-model``, their environment and ini twins (SPEC §3)."""

from __future__ import annotations

import pytest

from case_files import case_data, write_case
from chat_server import ChatServer

QUIET = ["-p", "no:cacheprovider"]


@pytest.fixture
def one_case(pytester: pytest.Pytester) -> None:
    write_case(pytester.path, "incident_cases/a.yaml", case_data("INC-A"))


@pytest.mark.usefixtures("one_case")
def test_flags_win_over_environment_and_ini(
    pytester: pytest.Pytester, chat_server: ChatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INCIDENT_EVALS_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("INCIDENT_EVALS_MODEL", "env-model")
    pytester.makeini("[pytest]\nincident_base_url = http://127.0.0.1:9/v1\nincident_model = ini\n")

    result = pytester.runpytest(
        "--incident-evals",
        f"--incident-base-url={chat_server.base_url}",
        "--incident-model=flag-model",
        *QUIET,
    )

    result.stdout.fnmatch_lines(
        [f"incident-evals: endpoint {chat_server.base_url} (--incident-base-url), model flag-model"]
    )
    result.assert_outcomes(passed=1)
    assert chat_server.requests[0].body["model"] == "flag-model"


@pytest.mark.usefixtures("one_case")
@pytest.mark.parametrize("variable", ["INCIDENT_EVALS_BASE_URL", "OPENAI_BASE_URL"])
def test_environment_wins_over_ini(
    pytester: pytest.Pytester,
    chat_server: ChatServer,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
) -> None:
    monkeypatch.setenv(variable, chat_server.base_url)
    monkeypatch.setenv("INCIDENT_EVALS_MODEL", "env-model")
    pytester.makeini("[pytest]\nincident_base_url = http://127.0.0.1:9/v1\nincident_model = ini\n")

    result = pytester.runpytest("--incident-evals", *QUIET)

    result.stdout.fnmatch_lines(
        [f"incident-evals: endpoint {chat_server.base_url} ({variable}), model env-model"]
    )
    result.assert_outcomes(passed=1)


@pytest.mark.usefixtures("one_case")
def test_ini_alone(pytester: pytest.Pytester, chat_server: ChatServer) -> None:
    pytester.makeini(
        f"[pytest]\nincident_base_url = {chat_server.base_url}\nincident_model = ini-model\n"
    )

    result = pytester.runpytest("--incident-evals", *QUIET)

    result.stdout.fnmatch_lines(
        [f"incident-evals: endpoint {chat_server.base_url} (incident_base_url), model ini-model"]
    )
    assert chat_server.requests[0].body["model"] == "ini-model"


@pytest.mark.usefixtures("one_case")
def test_api_key_comes_from_the_named_variable_only(
    pytester: pytest.Pytester, chat_server: ChatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-default-should-not-be-used")
    monkeypatch.setenv("TEAM_LLM_KEY", "sk-team-secret")
    pytester.makeini("[pytest]\nincident_api_key_env = TEAM_LLM_KEY\n")

    result = pytester.runpytest(
        "--incident-evals",
        f"--incident-base-url={chat_server.base_url}",
        "--incident-model=m",
        "--junitxml=out.xml",
        *QUIET,
    )

    result.assert_outcomes(passed=1)
    assert chat_server.requests[0].headers["authorization"] == "Bearer sk-team-secret"
    assert "sk-team-secret" not in result.stdout.str()
    assert "sk-team-secret" not in (pytester.path / "out.xml").read_text()


@pytest.mark.usefixtures("one_case")
def test_url_without_model_is_a_usage_error(
    pytester: pytest.Pytester, chat_server: ChatServer
) -> None:
    result = pytester.runpytest(
        "--incident-evals", f"--incident-base-url={chat_server.base_url}", *QUIET
    )

    result.stderr.fnmatch_lines(
        [
            f"ERROR: {chat_server.base_url} (from --incident-base-url) is configured but no model: "
            "pass --incident-model NAME*"
        ]
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--incident-base-url=ftp://x"],
            "*--incident-base-url: expected an http:// or https:// URL, got 'ftp://x'",
        ),
        (
            ["--incident-timeout=0"],
            "*--incident-timeout: expected a number of seconds greater than 0, got '0'",
        ),
        (["--incident-retries=-1"], "*--incident-retries: expected a whole number >= 0, got '-1'"),
    ],
)
def test_bad_flag_values_name_the_flag(
    pytester: pytest.Pytester, args: list[str], message: str
) -> None:
    result = pytester.runpytest("--incident-evals", *args, *QUIET)

    result.stderr.fnmatch_lines([message])
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_bad_ini_value_names_the_ini_option(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nincident_timeout = soon\n")

    result = pytester.runpytest("--incident-evals", *QUIET)

    result.stderr.fnmatch_lines(
        [
            "ERROR: ini option incident_timeout (twin of --incident-timeout): expected a number of "
            "seconds greater than 0, got 'soon'"
        ]
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR


@pytest.mark.usefixtures("one_case")
def test_endpoint_down_makes_errors_with_the_cause(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest(
        "--incident-evals",
        "--incident-base-url=http://127.0.0.1:9/v1",
        "--incident-model=m",
        "--incident-retries=0",
        *QUIET,
    )

    result.stdout.fnmatch_lines(
        ["INC-A: endpoint error: cannot connect to the endpoint* (after 1 attempt)"]
    )
    result.stdout.no_fnmatch_line("*Traceback*")
    result.assert_outcomes(errors=1)


@pytest.mark.usefixtures("one_case")
def test_http_error_names_status_message_and_request_id(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str]
) -> None:
    from chat_server import Reply

    chat_server.set_script(
        [Reply(status=401, error_message="bad key", headers={"x-request-id": "req_42"})]
    )

    result = pytester.runpytest(*endpoint_args)

    result.stdout.fnmatch_lines(
        [
            "INC-A: endpoint error: HTTP 401 from the endpoint: bad key [request id req_42] "
            "(after 1 attempt)"
        ]
    )
    result.assert_outcomes(errors=1)
