"""Every file a run writes (the results report, recordings, the judge's and the generator's
response caches) has the mode an ordinary ``open()`` gives: ``0o666`` less the umask."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest

from case_files import case_data, write_case
from chat_server import ChatServer, Reply


def respond(body: dict[str, Any]) -> Reply:
    system = body["messages"][0]
    instruction = system["content"] if system["role"] == "system" else ""
    if "strict evaluator" in instruction:
        return Reply(content=json.dumps({"verdict": "pass", "reason": "it says 30 days"}))
    if "Rewrite" in instruction:
        return Reply(content="Is a refund possible 40 days after I bought it?")
    return Reply(content="Refunds are possible within 30 days.")


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600)], indirect=["umask"])
def test_report_recordings_and_caches_get_the_umask_mode(
    pytester: pytest.Pytester, chat_server: ChatServer, umask: int, mode: int
) -> None:
    write_case(
        pytester.path,
        "incident_cases/refund.yaml",
        case_data(
            "INC-1",
            expect=[{"judge": "The reply says refunds are possible within 30 days."}],
            variants={"generate": [{"paraphrase": {"count": 1}}]},
        ),
    )
    chat_server.set_script(respond)

    result = pytester.runpytest(
        "--incident-evals",
        f"--incident-base-url={chat_server.base_url}",
        "--incident-model=target",
        "--incident-judge-model=judge",
        "--incident-generator-model=writer",
        "--incident-record=rec",
        "--incident-report=out/results.json",
    )

    result.assert_outcomes(passed=2)
    cache = pytester.path / ".pytest_cache" / "d"
    written = {
        "report": [pytester.path / "out/results.json"],
        "recordings": files(pytester.path / "rec"),
        "judge cache": files(cache / "incident-evals-judge"),
        "generator cache": files(cache / "incident-evals-generator"),
    }
    assert all(written.values()), written
    modes = {
        f"{what}: {path.name}": oct(stat.S_IMODE(path.stat().st_mode))
        for what, paths in written.items()
        for path in paths
    }
    assert modes == dict.fromkeys(modes, oct(mode))


def files(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("*") if path.is_file())
