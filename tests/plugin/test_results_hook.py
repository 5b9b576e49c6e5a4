"""pytest_incident_evals_results(results): the results document, once, after the run."""

from __future__ import annotations

import json

import pytest

from case_files import case_data, write_case
from chat_server import ChatServer, Reply

CONFTEST = """\
import json


def pytest_incident_evals_results(results):
    with open("hook-results.json", "a", encoding="utf-8") as stream:
        stream.write(json.dumps(results) + "\\n")
"""


@pytest.mark.parametrize("workers", ["-n0", "-n2"])
def test_the_hook_gets_the_results_once_on_the_controller(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str], workers: str
) -> None:
    pytester.makeconftest(CONFTEST)
    write_case(pytester.path, "incident_cases/a.yaml", case_data("INC-A"), case_data("INC-B"))
    chat_server.set_script(
        lambda body: Reply(content="60 days" if "INC-B" in str(body["messages"]) else "30 days")
    )

    pytester.runpytest(*endpoint_args, workers).assert_outcomes(passed=1, failed=1)

    [line] = (pytester.path / "hook-results.json").read_text().splitlines()
    results = json.loads(line)
    assert {(item["case_id"], item["outcome"]) for item in results["items"]} == {
        ("INC-A", "passed"),
        ("INC-B", "failed"),
    }
    assert results["summary"]["line"].startswith("incident-evals: BLOCK")
