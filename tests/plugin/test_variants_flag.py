"""--incident-variants: variant items, their node ids, markers, provenance, and project generators.

The generators here are registered by a conftest through
``pytest_incident_evals_register_variants``, so these tests pin the plugin's wiring rather than
any built-in generator's output (those have golden tests of their own).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest

from case_files import case_data, write_case
from chat_server import ChatServer, Reply

SIGN_OFF_CONFTEST = """\
from incident_evals.variants import (
    Generated,
    VariantGenerator,
    last_user_message,
    with_message_content,
)

SIGN_OFFS = ("Sent from my iPhone", "Regards, D.", "Thanks!", "Cheers")


def _sign_off(case, options, draw):
    index, text = last_user_message(case.input)
    sign_off = draw.choice(SIGN_OFFS)
    return Generated(with_message_content(case.input, index, f"{text} {sign_off}"),
                     f"sign-off added: {sign_off!r}")


def pytest_incident_evals_register_variants(registry):
    registry.register(VariantGenerator("sign_off", {"type": ["object", "null"]}, _sign_off))
"""


def last_message(body: dict[str, Any]) -> str:
    return str(body["messages"][-1]["content"])


SIGN_OFFS = ("Sent from my iPhone", "Regards, D.", "Thanks!", "Cheers")


def answer_60_days_when_signed(body: dict[str, Any]) -> Reply:
    """The model under test breaks when the question carries a sign-off."""
    signed = any(sign_off in last_message(body) for sign_off in SIGN_OFFS)
    return Reply(content="You have 60 days." if signed else "You have 30 days.")


@pytest.fixture
def catalogue(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(SIGN_OFF_CONFTEST)
    write_case(
        pytester.path,
        "incident_cases/refund.yaml",
        case_data(
            "INC-1",
            severity="critical",
            variants={
                "generate": [{"sign_off": {"count": 2}}],
                "cases": [
                    {
                        "name": "spanish",
                        "messages": [{"role": "user", "content": "¿reembolso? INC-1"}],
                        "expect": [{"contains": "30 days"}],
                    }
                ],
            },
        ),
        case_data("INC-2", severity="minor"),
    )


@pytest.mark.usefixtures("catalogue")
def test_each_variant_is_an_item_with_a_stable_node_id(
    pytester: pytest.Pytester, endpoint_args: list[str]
) -> None:
    result = pytester.runpytest(*endpoint_args, "--collect-only", "-q")

    result.stdout.fnmatch_lines(
        [
            "incident_cases/refund.yaml::INC-1",
            "incident_cases/refund.yaml::INC-1[[]sign_off-1]",
            "incident_cases/refund.yaml::INC-1[[]sign_off-2]",
            "incident_cases/refund.yaml::INC-1[[]spanish]",
            "incident_cases/refund.yaml::INC-2",
        ],
        consecutive=True,
    )


@pytest.mark.usefixtures("catalogue")
@pytest.mark.parametrize("workers", ["-n0", "-n2"])
def test_variants_run_with_the_case_and_fail_with_their_provenance(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str], workers: str
) -> None:
    chat_server.set_script(answer_60_days_when_signed)

    result = pytester.runpytest(*endpoint_args, workers)

    result.assert_outcomes(passed=3, failed=2)
    result.stdout.fnmatch_lines(
        [
            "INC-1[[]sign_off-1]: 1 of 1 constraint(s) failed (model test-model)",
            "  variant sign_off-1 (seed 0): sign-off added: '*'",
            '  not_contains (line *): expected not contains "60 days"',
        ]
    )
    asked = sorted(last_message(r.body) for r in chat_server.requests)
    assert len(asked) == 5
    assert asked.count("question for INC-1") == 1


@pytest.mark.usefixtures("catalogue")
def test_markers_select_variants_with_their_case(
    pytester: pytest.Pytester, endpoint_args: list[str]
) -> None:
    result = pytester.runpytest(*endpoint_args, "-m", "critical", "--collect-only", "-q")

    result.stdout.fnmatch_lines(["4/5 tests collected (1 deselected)*"])


@pytest.mark.usefixtures("catalogue")
def test_a_hand_written_variant_is_judged_by_its_own_expect(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str]
) -> None:
    # "60 days" passes the case's not_contains... but spanish expects "30 days".
    chat_server.set_script([Reply(content="Tiene 60 days.")])

    result = pytester.runpytest(*endpoint_args, "-k", "spanish")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "INC-1[[]spanish]: 1 of 1 constraint(s) failed (model test-model)",
            "  variant spanish: hand-written: replaces messages, with its own expect",
            '  contains (line *): expected contains "30 days"',
        ]
    )


@pytest.mark.usefixtures("catalogue")
@pytest.mark.parametrize(
    ("selection", "items"),
    [
        ("none", ["INC-1", "INC-2"]),
        ("1", ["INC-1", "INC-1[sign_off-1]", "INC-1[spanish]", "INC-2"]),
        ("all", ["INC-1", "INC-1[sign_off-1]", "INC-1[sign_off-2]", "INC-1[spanish]", "INC-2"]),
    ],
)
def test_the_flag_selects_generated_variants(
    pytester: pytest.Pytester, endpoint_args: list[str], selection: str, items: list[str]
) -> None:
    result = pytester.runpytest(
        *endpoint_args, f"--incident-variants={selection}", "--collect-only", "-q"
    )

    collected = [
        line.split("::", 1)[1] for line in result.stdout.lines if line.startswith("incident_cases")
    ]
    assert collected == items
    shown = {"none": "none", "1": "first 1", "all": "all"}[selection]
    header = pytester.runpytest(*endpoint_args, f"--incident-variants={selection}", "--co")
    header.stdout.fnmatch_lines([f"incident-evals: cases incident_cases, variants {shown}, seed 0"])


@pytest.mark.usefixtures("catalogue")
def test_the_ini_twin_selects_too(pytester: pytest.Pytester, endpoint_args: list[str]) -> None:
    pytester.makeini("[pytest]\nincident_variants = none\n")

    result = pytester.runpytest(*endpoint_args, "--collect-only", "-q")

    result.stdout.fnmatch_lines(["2 tests collected*"])


@pytest.mark.parametrize("value", ["some", "-1", "1.5"])
def test_a_bad_selection_is_a_usage_error_naming_the_flag(
    pytester: pytest.Pytester, endpoint_args: list[str], value: str
) -> None:
    result = pytester.runpytest(*endpoint_args, f"--incident-variants={value}")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "*--incident-variants: expected none, all or a whole number >= 0 (generated variants "
            f"per case), got '{value}'"
        ]
    )


@pytest.mark.usefixtures("catalogue")
def test_junit_carries_the_variant_id(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str]
) -> None:
    chat_server.set_script(lambda body: Reply(content="You have 30 days."))

    pytester.runpytest(*endpoint_args, "--junitxml=junit.xml")

    root = ET.parse(pytester.path / "junit.xml").getroot()
    variants = sorted(
        prop.get("value", "") for prop in root.iter("property") if prop.get("name") == "variant"
    )
    assert variants == ["original", "original", "sign_off-1", "sign_off-2", "spanish"]


def test_a_generator_that_cannot_apply_is_a_one_line_collection_error(
    pytester: pytest.Pytester, endpoint_args: list[str]
) -> None:
    pytester.makeconftest(
        SIGN_OFF_CONFTEST
        + """

from incident_evals.variants import VariantError


def _needs_documents(case, options):
    if not case.input.documents:
        raise VariantError("the case has no documents to sign", field="documents")


def pytest_incident_evals_register_variants(registry):
    registry.register(VariantGenerator("sign_off", {"type": ["object", "null"]}, _sign_off,
                                       check=_needs_documents))
"""
    )
    write_case(
        pytester.path,
        "incident_cases/a.yaml",
        case_data("INC-A", variants={"generate": [{"sign_off": None}]}),
    )
    write_case(pytester.path, "incident_cases/b.yaml", case_data("INC-B"))

    result = pytester.runpytest(*endpoint_args, "--collect-only", "-q")

    result.stdout.fnmatch_lines(
        [
            "  incident_cases/a.yaml:*: variants.generate[[]0].sign_off.documents: the case has no "
            "documents to sign",
        ]
    )
    result.stdout.fnmatch_lines(["incident_cases/b.yaml::INC-B"])
