"""``incident-evals report --markdown F --html F`` says where it wrote each file."""

from __future__ import annotations

from pathlib import Path

import pytest

import results_fixtures as fixtures
from incident_evals.cli import main
from incident_evals.report.terminal import summary_lines
from results_fixtures import write


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "candidate.json", fixtures.candidate_run())
    return tmp_path


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        pytest.param(
            ["--html", "out/report.html"], ["wrote HTML report to out/report.html"], id="html"
        ),
        pytest.param(
            ["--markdown", "summary.md"], ["wrote Markdown report to summary.md"], id="markdown"
        ),
        pytest.param(
            ["--html", "r.html", "--markdown", "r.md"],
            ["wrote Markdown report to r.md", "wrote HTML report to r.html"],
            id="both",
        ),
    ],
)
def test_each_written_file_is_named_before_the_summary(
    in_tmp: Path, capsys: pytest.CaptureFixture[str], argv: list[str], said: list[str]
) -> None:
    assert main(["report", "candidate.json", *argv]) == 1

    captured = capsys.readouterr()
    assert captured.out.splitlines() == [*said, *summary_lines(fixtures.candidate_run())]
    assert captured.err == ""
    for line in said:
        assert (in_tmp / line.split(" to ", 1)[1]).stat().st_size > 0


def test_a_file_written_before_one_that_cannot_be_is_still_named(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (in_tmp / "taken").mkdir()

    assert main(["report", "candidate.json", "--markdown", "r.md", "--html", "taken"]) == 2

    captured = capsys.readouterr()
    assert captured.out == "wrote Markdown report to r.md\n"
    assert captured.err == "incident-evals report: --html: cannot write taken: Is a directory\n"
    assert (in_tmp / "r.md").is_file()


def test_without_a_file_flag_only_the_summary_is_printed(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", "candidate.json"]) == 1

    assert capsys.readouterr().out.splitlines() == summary_lines(fixtures.candidate_run())
