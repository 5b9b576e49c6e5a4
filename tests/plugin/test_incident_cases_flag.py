"""``--incident-cases`` and positional paths: where case files are collected from."""

from __future__ import annotations

import pytest

from case_files import case_data, write_case


def test_flag_points_at_another_catalogue(
    pytester: pytest.Pytester, endpoint_args: list[str]
) -> None:
    write_case(pytester.path, "incident_cases/a.yaml", case_data("INC-DEFAULT"))
    write_case(pytester.path, "catalogue/deep/er/b.yml", case_data("INC-ELSEWHERE"))

    result = pytester.runpytest(*endpoint_args, "--incident-cases=catalogue", "-v")

    result.stdout.fnmatch_lines(["catalogue/deep/er/b.yml::INC-ELSEWHERE PASSED*"])
    result.stdout.fnmatch_lines(["incident-evals: cases catalogue, variants all, seed 0"])
    result.assert_outcomes(passed=1)


def test_ini_twin(pytester: pytest.Pytester, endpoint_args: list[str]) -> None:
    write_case(pytester.path, "catalogue/b.yaml", case_data("INC-INI"))
    pytester.makeini("[pytest]\nincident_cases = catalogue\n")

    result = pytester.runpytest(*endpoint_args, "-v")

    result.stdout.fnmatch_lines(["catalogue/b.yaml::INC-INI PASSED*"])


def test_positional_paths_select_cases(pytester: pytest.Pytester, endpoint_args: list[str]) -> None:
    write_case(pytester.path, "incident_cases/security/a.yaml", case_data("INC-A"))
    write_case(pytester.path, "incident_cases/safety/b.yaml", case_data("INC-B"))
    write_case(pytester.path, "other/c.yaml", case_data("INC-C"))

    result = pytester.runpytest(*endpoint_args, "incident_cases/security", "other/c.yaml", "-v")

    result.stdout.fnmatch_lines(
        ["incident_cases/security/a.yaml::INC-A PASSED*", "other/c.yaml::INC-C PASSED*"]
    )
    result.assert_outcomes(passed=2)


def test_node_id_selects_one_case(pytester: pytest.Pytester, endpoint_args: list[str]) -> None:
    write_case(pytester.path, "incident_cases/m.yaml", case_data("INC-1"), case_data("INC-2"))

    result = pytester.runpytest(*endpoint_args, "incident_cases/m.yaml::INC-2", "-v")

    result.stdout.fnmatch_lines(["incident_cases/m.yaml::INC-2 PASSED*"])
    result.assert_outcomes(passed=1)


def test_yaml_outside_the_catalogue_is_not_a_case(
    pytester: pytest.Pytester, endpoint_args: list[str]
) -> None:
    write_case(pytester.path, "incident_cases/a.yaml", case_data("INC-A"))
    (pytester.path / "incident_cases/../config.yaml").write_text("not: a case\n")

    result = pytester.runpytest(*endpoint_args, "incident_cases", "-v")

    result.assert_outcomes(passed=1)


def test_missing_catalogue_is_a_usage_error(
    pytester: pytest.Pytester, endpoint_args: list[str]
) -> None:
    result = pytester.runpytest(*endpoint_args, "--incident-cases=nowhere")

    result.stderr.fnmatch_lines(
        ["ERROR: --incident-cases: */nowhere is not a directory; pass the folder of case files*"]
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_without_a_catalogue_folder_content_files_stay_beside_the_case(
    pytester: pytest.Pytester, endpoint_args: list[str]
) -> None:
    (pytester.path / "top-secret.md").write_text("secret")
    documents = [{"id": "d", "content_file": "../../top-secret.md"}]
    write_case(
        pytester.path, "lib/sub/case.yaml", case_data("INC-A", input={"documents": documents})
    )

    result = pytester.runpytest(*endpoint_args, "lib/sub/case.yaml")

    result.stdout.fnmatch_lines(
        [
            "lib/sub/case.yaml:*: input.documents?0?.content_file: '../../top-secret.md' "
            "leaves the case catalogue root *"
        ]
    )
    result.assert_outcomes(errors=1)
