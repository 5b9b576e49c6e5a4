"""``incident_evals.Catalogue``: the Python front-end, against the scripted endpoint through the
real openai SDK. Its results must be the document the pytest plugin writes for the same run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from case_files import case_data, write_case
from chat_server import ChatServer, Reply
from example_cases import CATALOGUE

#: What differs between two runs of the same catalogue: when they ran and how long it took.
TIMINGS = ("started_at", "duration_s")


def without_timings(document: dict[str, Any]) -> dict[str, Any]:
    document = json.loads(json.dumps(document))
    for key in TIMINGS:
        document["run"].pop(key)
    for item in document["items"]:
        item.pop("latency_s")
    return document


def answers(body: dict[str, Any]) -> Reply:
    """Some answers fail their case, some pass: the documents must agree on which."""
    # Chat Completions sends "messages", the Responses API "instructions" and "input".
    text = json.dumps([body.get("messages"), body.get("instructions"), body.get("input")])
    if "refund" in text.lower():
        return Reply(content="Refunds are accepted within 60 days, no receipt needed.")
    return Reply(content="I can't help with that.")


@pytest.mark.parametrize(
    ("workers", "api"), [("-n0", "chat"), ("-n2", "chat"), ("-n0", "responses")]
)
def test_the_api_results_equal_the_plugins_on_the_example_catalogue(
    pytester: pytest.Pytester,
    chat_server: ChatServer,
    endpoint_args: list[str],
    workers: str,
    api: str,
) -> None:
    from incident_evals import Catalogue

    shutil.copytree(CATALOGUE, pytester.path / "incident_cases")
    pytester.makeini("[pytest]\n")
    chat_server.set_script(answers)

    pytester.runpytest(
        *endpoint_args, "--incident-report=plugin.json", f"--incident-api={api}", workers
    )
    plugin = json.loads((pytester.path / "plugin.json").read_text(encoding="utf-8"))
    results = Catalogue.load(pytester.path / "incident_cases").run(
        base_url=chat_server.base_url, model="test-model", api=api
    )
    assert {request.path for request in chat_server.requests} == {
        "/v1/chat/completions" if api == "chat" else "/v1/responses"
    }

    document = results.to_json()
    assert without_timings(dict(document)) == without_timings(plugin)
    # Not a vacuous equality: the run has passes, failures and errors, and a verdict.
    outcomes = document["summary"]["outcomes"]
    assert outcomes.get("passed")
    assert outcomes.get("failed")
    assert results.verdict == "BLOCK"
    assert results.line == plugin["summary"]["line"]


def test_load_lists_the_cases_and_one_line_per_file_that_fails(tmp_path: Path) -> None:
    from incident_evals import Catalogue

    write_case(tmp_path, "cases/a.yaml", case_data("INC-A"), case_data("INC-B"))
    (tmp_path / "cases/b.yaml").write_text("id: [\n", encoding="utf-8")
    write_case(tmp_path, "cases/c.yaml", case_data("INC-A"))
    # The project's root, which errors and node ids are relative to.
    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")

    catalogue = Catalogue.load(tmp_path / "cases")

    assert [case.id for case in catalogue.cases] == ["INC-A", "INC-B"]
    assert [error.render(tmp_path) for error in catalogue.errors] == [
        "cases/b.yaml:2: invalid YAML: did not find expected node content",
        "cases/c.yaml:1: id: duplicate case id 'INC-A' (first defined at cases/a.yaml:1)",
    ]


def test_a_broken_file_is_in_the_results_and_blocks(
    tmp_path: Path, chat_server: ChatServer
) -> None:
    from incident_evals import Catalogue

    write_case(tmp_path, "cases/a.yaml", case_data("INC-A"))
    (tmp_path / "cases/b.yaml").write_text("id: [\n", encoding="utf-8")
    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")

    results = Catalogue.load(tmp_path / "cases").run(
        base_url=chat_server.base_url, model="test-model"
    )

    document = results.to_json()
    assert [item["outcome"] for item in document["items"]] == ["passed"]
    assert document["load_errors"] == [
        {
            "nodeid": "cases/b.yaml::line-2",
            "path": "cases/b.yaml",
            "line": 2,
            "field": "",
            "message": "cases/b.yaml:2: invalid YAML: did not find expected node content",
        }
    ]
    assert document["summary"]["outcomes"] == {"passed": 1, "error": 1}
    assert results.verdict == "BLOCK"


def test_an_endpoint_that_cannot_answer_is_an_error_never_a_pass(tmp_path: Path) -> None:
    from incident_evals import Catalogue

    write_case(tmp_path, "cases/a.yaml", case_data("INC-A"))
    server = ChatServer()
    server.start()
    server.set_script(lambda body: Reply(status=503, content="down"))
    try:
        results = Catalogue.load(tmp_path / "cases").run(
            base_url=server.base_url, model="test-model", concurrency=1
        )
    finally:
        server.stop()

    [item] = results.to_json()["items"]
    assert item["outcome"] == "error"
    assert item["error"] is not None
    assert "INC-A: endpoint error: " in item["error"]
    assert "503" in item["error"]
    assert results.verdict == "INCOMPLETE"


def test_the_api_key_is_sent_and_never_written(
    tmp_path: Path, chat_server: ChatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from incident_evals import Catalogue

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    key = "sk-test-0123456789abcdefghijklmnop"
    chat_server.set_script(lambda body: Reply(content=f"The key is {key}."))
    write_case(tmp_path, "cases/a.yaml", case_data("INC-A", expect=[{"not_contains": "key"}]))

    results = Catalogue.load(tmp_path / "cases").run(
        base_url=chat_server.base_url, model="test-model", api_key=key
    )

    assert {r.headers["authorization"] for r in chat_server.requests} == {f"Bearer {key}"}
    text = json.dumps(results.to_json())
    assert key not in text
    assert "[redacted: api key]" in text


def test_record_then_replay_offline_gives_the_same_verdicts(
    tmp_path: Path, chat_server: ChatServer
) -> None:
    from incident_evals import Catalogue

    write_case(tmp_path, "cases/a.yaml", case_data("INC-A"), case_data("INC-B"))
    chat_server.set_script(
        lambda body: Reply(content="60 days" if "INC-B" in json.dumps(body) else "30 days")
    )
    catalogue = Catalogue.load(tmp_path / "cases")

    recorded = catalogue.run(
        base_url=chat_server.base_url, model="test-model", record=tmp_path / "rec"
    )
    sent = len(chat_server.requests)
    replayed = catalogue.run(
        base_url="http://127.0.0.1:9/v1", model="test-model", replay=tmp_path / "rec"
    )

    assert len(chat_server.requests) == sent  # offline: nothing more was sent
    outcomes = [(i["case_id"], i["outcome"]) for i in replayed.to_json()["items"]]
    assert outcomes == [(i["case_id"], i["outcome"]) for i in recorded.to_json()["items"]]
    assert outcomes == [("INC-A", "passed"), ("INC-B", "failed")]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"variants": "some"}, "variants must be 'all', 'none' or a number of variants"),
        ({"variants": -1}, "variants must be 'all', 'none' or a number of variants"),
        ({"repeats": 0}, "repeats must be between 1 and 1000, got 0"),
        ({"concurrency": 0}, "concurrency must be 1 or more, got 0"),
        ({"seed": -3}, "seed must be 0 or more, got -3"),
        ({"model": ""}, "model is required"),
        ({"record": "a", "replay": "b"}, "record and replay exclude each other"),
        ({"api": "grpc"}, "api must be one of 'chat', 'responses', got 'grpc'"),
    ],
)
def test_bad_arguments_are_refused_before_anything_is_sent(
    tmp_path: Path, chat_server: ChatServer, arguments: dict[str, Any], message: str
) -> None:
    from incident_evals import Catalogue

    write_case(tmp_path, "cases/a.yaml", case_data("INC-A"))
    given: dict[str, Any] = {"base_url": chat_server.base_url, "model": "test-model"}

    with pytest.raises(ValueError, match=message):
        Catalogue.load(tmp_path / "cases").run(**{**given, **arguments})

    assert chat_server.requests == []


def test_a_missing_catalogue_is_one_clear_error(tmp_path: Path) -> None:
    from incident_evals.catalogue import Catalogue, CatalogueError

    with pytest.raises(CatalogueError, match="nowhere: no such file or directory"):
        Catalogue.load(tmp_path / "nowhere")


def test_the_documented_example_runs(tmp_path: Path, chat_server: ChatServer) -> None:
    import os
    import re
    import subprocess
    import sys

    import incident_evals

    docs = Path(__file__).resolve().parents[2] / "docs" / "api.md"
    [example] = re.findall(r"```python\n(.*?)```", docs.read_text(encoding="utf-8"), re.S)[:1]
    shutil.copytree(CATALOGUE, tmp_path / "incident_cases")
    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    chat_server.set_script(answers)
    source = str(Path(incident_evals.__file__).resolve().parents[1])
    environment = {
        **os.environ,
        "MODEL_BASE_URL": chat_server.base_url,
        "MODEL_NAME": "test-model",
        "PYTHONPATH": os.pathsep.join([source, os.environ.get("PYTHONPATH", "")]),
    }

    ran = subprocess.run(
        [sys.executable, "-c", example],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert ran.returncode == 1, ran.stderr  # the example catalogue fails on these answers: BLOCK
    assert ran.stdout.splitlines()[-1].startswith("incident-evals: BLOCK — ")
    document = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert document["summary"]["line"] == ran.stdout.splitlines()[-1]
    assert chat_server.requests


CONFTEST_CONSTRAINT = """\
from incident_evals.constraints import ConstraintType, Verdict


def _build(word, case):
    def check(transcript, case):
        found = word in transcript.final_text
        return Verdict(not found, f"never the word {word}", "it is there" if found else "")

    return check


def pytest_incident_evals_register_constraints(registry):
    registry.register(ConstraintType("never_word", {"type": "string"}, _build))
"""


def test_load_uses_the_constraints_a_conftest_registers_where_pytest_applies_it(
    tmp_path: Path, chat_server: ChatServer
) -> None:
    from incident_evals import Catalogue

    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    write_case(tmp_path, "cases/own/a.yaml", case_data("INC-A", expect=[{"never_word": "60"}]))
    (tmp_path / "cases/own/conftest.py").write_text(CONFTEST_CONSTRAINT, encoding="utf-8")
    # A sibling folder is not governed by that conftest, as pytest scopes them.
    write_case(tmp_path, "cases/other/b.yaml", case_data("INC-B", expect=[{"never_word": "60"}]))
    chat_server.set_script(lambda body: Reply(content="You have 60 days."))

    catalogue = Catalogue.load(tmp_path / "cases")

    assert [case.id for case in catalogue.cases] == ["INC-A"]
    [error] = catalogue.errors
    assert error.render(tmp_path).startswith(
        "cases/other/b.yaml:11: expect[0].never_word: unknown constraint 'never_word'"
    )
    [item] = catalogue.run(base_url=chat_server.base_url, model="test-model").items
    assert item["outcome"] == "failed"
    assert item["failures"][0]["constraint"] == "never_word"


def test_a_conftest_hook_that_raises_is_the_error_of_each_file_it_governs(tmp_path: Path) -> None:
    from incident_evals import Catalogue

    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    write_case(tmp_path, "cases/bad/a.yaml", case_data("INC-A"))
    (tmp_path / "cases/bad/conftest.py").write_text(
        "def pytest_incident_evals_register_constraints(registry):\n    raise SystemExit(3)\n",
        encoding="utf-8",
    )
    write_case(tmp_path, "cases/good/b.yaml", case_data("INC-B"))

    catalogue = Catalogue.load(tmp_path / "cases")

    assert [case.id for case in catalogue.cases] == ["INC-B"]
    [error] = catalogue.errors
    assert error.render(tmp_path) == (
        "cases/bad/a.yaml:1: cases/bad/conftest.py:2: "
        "pytest_incident_evals_register_constraints raised SystemExit(3)"
    )
