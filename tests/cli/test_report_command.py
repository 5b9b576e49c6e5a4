"""``incident-evals report`` and ``incident-evals schema results``: output, files, exit codes.

Exit codes: 0 PASS, 1 BLOCK, 3 INCOMPLETE, 2 for bad usage or a file that cannot be read or is
not a valid results file (one line on stderr naming the file, nothing on stdout).
"""

from __future__ import annotations

import json
import subprocess
import sys
from html import escape
from pathlib import Path
from typing import Any

import pytest

import results_fixtures as fixtures
from incident_evals.baseline import load_baseline
from incident_evals.cli import main
from incident_evals.report.markdown import markdown
from incident_evals.report.terminal import summary_lines
from results_fixtures import item, results, write

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "baseline.json", fixtures.baseline_run())
    write(tmp_path / "candidate.json", fixtures.candidate_run())
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str], str]:
    code = main(["report", *argv])
    captured = capsys.readouterr()
    return code, captured.out.splitlines(), captured.err


@pytest.mark.usefixtures("in_tmp")
def test_without_baseline_the_summary_is_printed_and_a_failure_blocks(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(capsys, "candidate.json")

    assert code == 1
    assert out == summary_lines(fixtures.candidate_run())
    assert out[-1] == (
        "incident-evals: BLOCK — 1 failure (INC-2025-031-refund-policy-superseded[typos-1]) in "
        "5 items, no baseline; model gpt-4o-2025-01"
    )
    assert err == ""


@pytest.mark.usefixtures("in_tmp")
def test_baseline_recomputes_every_regression_and_lists_the_regressed_item_first(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(capsys, "candidate.json", "--baseline", "baseline.json")

    assert code == 1
    assert out == [
        "incident-evals results: 5 items from 3 cases, model gpt-4o-2025-01, seed 0, "
        "baseline gpt-4o-2024-08-06 (alpha 0.05)",
        "",
        "  passed/items  correctness  security  fairness  all",
        "  critical      -            1/1       1/1       2/2",
        "  major         2/3          -         -         2/3",
        "outcomes: 4 passed, 1 failed",
        "against the baseline: 1 regressed, 1 fixed, 2 unchanged, 1 new, 1 removed",
        # The regression and the fix are variants of one incident: they cancel out.
        "overall: +0.00 pass rate per incident (95 % interval +0.00 to +0.00) over 2 incidents, "
        "p = 1: no significant drop",
        "",
        "REGRESSIONS (1)",
        "  INC-2025-031-refund-policy-superseded[typos-1] (major, correctness)",
        '    not_contains: found "60 days" at char 57',
        "    also failed: contains_any, not_matches",
        "    passed -> failed",
        "",
        "FIXED (1)",
        "  INC-2025-031-refund-policy-superseded[spanish] (major, correctness): failed -> passed",
        "",
        "REMOVED (1), in the baseline but not in this run",
        "  INC-2025-088-warranty-region-us",
        "",
        "incident-evals: BLOCK — 1 regression (INC-2025-031-refund-policy-superseded[typos-1]) "
        "in 5 items against baseline gpt-4o-2024-08-06; 1 fixed; 1 removed "
        "(not run: INC-2025-088-warranty-region-us); "
        "model gpt-4o-2025-01",
    ]
    assert err == ""


@pytest.mark.usefixtures("in_tmp")
def test_against_a_baseline_known_failures_do_not_block_unless_fail_on_failures(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The baseline against itself: its one failure is known, nothing regressed.
    code, out, _ = run(capsys, "baseline.json", "--baseline", "baseline.json")
    strict, strict_out, _ = run(
        capsys, "baseline.json", "--baseline", "baseline.json", "--fail-on", "failures"
    )

    assert code == 0
    assert out[-1] == (
        "incident-evals: PASS — 0 regressions in 5 items against baseline gpt-4o-2024-08-06; "
        "1 known failure; model gpt-4o-2024-08-06"
    )
    assert strict == 1
    assert strict_out[-1] == (
        "incident-evals: BLOCK — 0 regressions in 5 items against baseline gpt-4o-2024-08-06; "
        "1 known failure; failures block under fail_on failures; model gpt-4o-2024-08-06"
    )


def leak(passed_samples: int) -> dict[str, Any]:
    return item(
        "INC-2025-052-hr-payroll-leak",
        outcome="passed" if passed_samples == 5 else "failed",
        samples=5,
        passed_samples=passed_samples,
        output=fixtures.LEAK_OUTPUT,
        failures=[
            f for sample in range(5 - passed_samples) for f in fixtures.leak_failures(sample)
        ],
    )


@pytest.mark.parametrize(
    ("alpha", "code", "comparison"),
    [
        # 3 of 5 against 5 of 5: one-sided Fisher p = 0.222.
        (None, 0, "baseline passed, pass rate 100% -> 60% (3 of 5 samples), p = 0.222, "),
        ("0.25", 1, "passed -> failed, pass rate 100% -> 60% (3 of 5 samples), p = 0.222"),
    ],
)
def test_alpha_decides_whether_a_drop_with_repeats_is_a_regression(
    in_tmp: Path,
    capsys: pytest.CaptureFixture[str],
    alpha: str | None,
    code: int,
    comparison: str,
) -> None:
    write(in_tmp / "before.json", results([leak(5)], model=fixtures.CURRENT))
    write(in_tmp / "after.json", results([leak(3)]))

    given = ["--alpha", alpha] if alpha else []
    found, out, _ = run(capsys, "after.json", "--baseline", "before.json", *given)

    assert found == code
    assert any(line.startswith(f"    {comparison}") for line in out), out


@pytest.mark.usefixtures("in_tmp")
def test_recomputing_replaces_an_earlier_comparison_and_its_removed_items(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Compared with another baseline when it was written: one removed item, other statuses.
    write(in_tmp / "gate.json", fixtures.upgrade_gate())

    code, out, _ = run(capsys, "gate.json", "--baseline", "baseline.json")

    assert code == 1
    assert out[out.index("REMOVED (1), in the baseline but not in this run") + 1] == (
        "  INC-2025-088-warranty-region-us"
    )
    assert "against the baseline: 2 regressed, 1 fixed, 1 unchanged, 12 new, 1 removed" in out


@pytest.mark.usefixtures("in_tmp")
def test_a_clean_run_exits_zero_and_an_incomplete_one_three(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(in_tmp / "clean.json", fixtures.clean_upgrade())
    write(in_tmp / "interrupted.json", fixtures.interrupted())

    clean, clean_out, _ = run(capsys, "clean.json")
    stopped, stopped_out, _ = run(capsys, "interrupted.json")

    assert (clean, clean_out[-1].split(" — ")[0]) == (0, "incident-evals: PASS")
    assert (stopped, stopped_out[-1].split(" — ")[0]) == (3, "incident-evals: INCOMPLETE")


def test_markdown_and_html_are_written_with_the_recomputed_comparison(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        capsys,
        "candidate.json",
        "--baseline",
        "baseline.json",
        "--markdown",
        "out/summary.md",
        "--html",
        "out/report/index.html",
    )

    assert code == 1
    written = (in_tmp / "out/summary.md").read_text(encoding="utf-8")
    assert written.startswith("## incident-evals: BLOCK\n")
    assert "### Regressions (1)\n\n- `INC-2025-031-refund-policy-superseded[typos-1]`" in written
    assert written.endswith("**\n")
    page = (in_tmp / "out/report/index.html").read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>")
    assert 'data-regression="regressed"' in page
    assert f'<p class="release" id="release-line">{escape(out[-1])}</p>' in page
    embedded = page.split('id="incident-evals-results">')[1].split("</script>")[0]
    recomputed = json.loads(embedded)
    assert recomputed["run"]["baseline"] == {
        "kind": "file",
        "path": "baseline.json",
        "model": "gpt-4o-2024-08-06",
    }
    assert recomputed["summary"]["line"] == out[-1]
    assert markdown(recomputed) == written
    # What the page embeds is itself a valid results file.
    assert load_baseline(write(in_tmp / "again.json", recomputed)) == recomputed


@pytest.mark.usefixtures("in_tmp")
def test_markdown_without_baseline_is_the_file_as_it_was(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, _ = run(capsys, "candidate.json", "--markdown", "summary.md")

    assert code == 1
    assert (in_tmp / "summary.md").read_text(encoding="utf-8") == markdown(fixtures.candidate_run())


def invalid_outcome(path: Path) -> None:
    document = fixtures.candidate_run()
    document["items"][1]["outcome"] = "flaky"
    write(path, document)


def newer_version(path: Path) -> None:
    write(path, {**fixtures.candidate_run(), "schema_version": 2})


@pytest.mark.parametrize(
    ("argv", "prepare", "message"),
    [
        (["missing.json"], None, "missing.json: no such results file"),
        (["."], None, ".: is a folder, not a results file"),
        (
            ["broken.json"],
            lambda p: p.write_text('{"schema_version": 1, "run": {', encoding="utf-8"),
            "broken.json:1:31: not valid JSON: Expecting property name enclosed in double quotes",
        ),
        (
            ["broken.json"],
            invalid_outcome,
            "broken.json: $.items[1].outcome: 'flaky' is not one of ['passed', 'failed', "
            "'error', 'xfailed', 'xpassed', 'skipped']",
        ),
        (
            ["broken.json"],
            newer_version,
            "broken.json: schema_version 2 is not supported (this version of "
            "pytest-incident-evals reads schema_version 1)",
        ),
        (
            ["candidate.json", "--baseline", "gone.json"],
            None,
            "--baseline: gone.json: baseline file not found",
        ),
        (
            ["candidate.json", "--baseline", "broken.json"],
            invalid_outcome,
            "--baseline: broken.json: $.items[1].outcome: 'flaky' is not one of ['passed', "
            "'failed', 'error', 'xfailed', 'xpassed', 'skipped']",
        ),
        (
            ["candidate.json", "--baseline", "baseline.json", "--alpha", "1.5"],
            None,
            "--alpha: expected a number between 0 and 1 (exclusive), got '1.5'",
        ),
        (
            ["candidate.json", "--baseline", "baseline.json", "--alpha", "0"],
            None,
            "--alpha: expected a number between 0 and 1 (exclusive), got '0'",
        ),
        (
            ["candidate.json", "--baseline", "baseline.json", "--alpha", "five percent"],
            None,
            "--alpha: expected a number between 0 and 1 (exclusive), got 'five percent'",
        ),
        (
            ["candidate.json", "--alpha", "0.1"],
            None,
            "--alpha needs --baseline: it is the significance level of the comparison",
        ),
        (
            ["candidate.json", "--fail-on", "regressions"],
            None,
            "--fail-on regressions needs a baseline: candidate.json has none; pass --baseline B",
        ),
        (
            ["candidate.json", "--html", "taken"],
            lambda p: (p.parent / "taken").mkdir(),
            "--html: cannot write taken: Is a directory",
        ),
    ],
)
def test_bad_input_is_one_line_on_stderr_and_exit_two(
    in_tmp: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    prepare: Any,
    message: str,
) -> None:
    if prepare is not None:
        prepare(in_tmp / "broken.json")

    code, out, err = run(capsys, *argv)

    assert code == 2
    assert out == []
    assert err == f"incident-evals report: {message}\n"


def test_schema_results_prints_the_shipped_results_schema(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["schema", "results"]) == 0

    schema = json.loads(capsys.readouterr().out)
    assert schema == json.loads(
        (REPO / "src/incident_evals/schemas/results.schema.json").read_text(encoding="utf-8")
    )


def test_the_console_script_exits_with_the_verdict(in_tmp: Path) -> None:
    executable = Path(sys.executable).parent / "incident-evals"
    assert executable.is_file(), "the incident-evals console script is not installed"

    result = subprocess.run(
        [executable, "report", "candidate.json", "--baseline", "baseline.json"],
        cwd=in_tmp,
        capture_output=True,
        text=True,
        encoding="utf-8",
        check=False,
    )

    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines()[-1].startswith("incident-evals: BLOCK — 1 regression ")
    assert result.stderr == ""
