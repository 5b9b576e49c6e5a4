"""``incident-evals variants CASE``: each variant, its provenance and a diff; exit codes."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from case_files import case_data, write_case
from chat_server import ChatServer, Reply
from incident_evals.cli import main

CONFTEST = """\
from incident_evals.variants import (
    Generated,
    VariantGenerator,
    last_user_message,
    with_message_content,
)


def _shout(case, options, draw):
    index, text = last_user_message(case.input)
    marks = "!" * (1 + draw.below(3))
    new_input = with_message_content(case.input, index, text.upper() + marks)
    return Generated(new_input, f"shouted{marks}")


def pytest_incident_evals_register_variants(registry):
    registry.register(VariantGenerator("shout", {"type": ["object", "null"]}, _shout))
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'acme'\n")
    (tmp_path / "conftest.py").write_text(CONFTEST)
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        if (getattr(sys.modules[name], "__file__", None) or "").startswith(str(tmp_path)):
            del sys.modules[name]


def refund_case(**fields: Any) -> dict[str, Any]:
    return case_data(
        "INC-1",
        input={"messages": [{"role": "user", "content": "Can I get a refund?"}]},
        variants={
            "generate": [{"shout": {"count": 2}}],
            "cases": [{"name": "polite", "messages": [{"role": "user", "content": "Hi! Refund?"}]}],
        },
        **fields,
    )


def test_shows_each_variant_with_its_provenance_and_diff(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_case(project, "incident_cases/refund.yaml", refund_case())

    assert main(["variants", "incident_cases/refund.yaml", "--seed", "3"]) == 0

    out = capsys.readouterr().out.splitlines()
    assert out[0] == "INC-1 (incident_cases/refund.yaml:1): 3 variant(s), seed 3"
    shout = out.index("[shout-1] shout {}")
    marks = out[shout + 1].strip().removeprefix("shouted")
    assert set(marks) == {"!"}
    assert out[shout + 2 : shout + 8] == [
        "  --- original",
        "  +++ shout-1",
        "  @@ -1,2 +1,2 @@",
        "   messages[0] (user):",
        "  -    Can I get a refund?",
        f"  +    CAN I GET A REFUND?{marks}",
    ]
    polite = out.index("[polite] hand-written")
    assert out[polite + 1] == "  hand-written: replaces messages"
    assert "  +    Hi! Refund?" in out[polite:]


def test_the_same_seed_shows_the_same_variants(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_case(project, "incident_cases/refund.yaml", refund_case())
    outputs = set()
    for _ in range(2):
        assert main(["variants", "incident_cases/refund.yaml", "--seed", "11"]) == 0
        outputs.add(capsys.readouterr().out)
    assert len(outputs) == 1


def test_none_shows_no_variant(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_case(project, "incident_cases/refund.yaml", refund_case())

    assert main(["variants", "incident_cases/refund.yaml", "--variants", "none"]) == 0

    assert capsys.readouterr().out == "INC-1 (incident_cases/refund.yaml:1): 0 variant(s), seed 0\n"


def test_id_picks_one_case_of_a_file(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_case(project, "incident_cases/two.yaml", refund_case(), case_data("INC-2"))

    assert main(["variants", "incident_cases/two.yaml", "--id", "INC-2"]) == 0

    assert capsys.readouterr().out.startswith("INC-2 (incident_cases/two.yaml:")


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["variants", "nope.yaml"], "incident-evals variants: nope.yaml: no such case file\n"),
        (
            ["variants", "incident_cases/refund.yaml", "--id", "INC-9"],
            "incident-evals variants: incident_cases/refund.yaml has no case 'INC-9'\n",
        ),
        (
            ["variants", "incident_cases/refund.yaml", "--variants", "many"],
            "incident-evals variants: --variants: expected none, all or a whole number >= 0 "
            "(generated variants per case), got 'many'\n",
        ),
    ],
)
def test_bad_usage_exits_two_with_one_line(
    project: Path, capsys: pytest.CaptureFixture[str], argv: list[str], error: str
) -> None:
    write_case(project, "incident_cases/refund.yaml", refund_case())

    assert main(argv) == 2

    assert capsys.readouterr().err == error


def test_a_bad_seed_is_rejected_by_the_parser(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["variants", "x.yaml", "--seed", "-2"])
    assert info.value.code == 2
    assert "argument --seed: expected a whole number >= 0, got '-2'" in capsys.readouterr().err


def test_a_case_file_with_errors_exits_one_with_its_lines(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_case(
        project,
        "incident_cases/refund.yaml",
        case_data("INC-1", variants={"generate": [{"whisper": None}]}),
    )

    assert main(["variants", "incident_cases/refund.yaml"]) == 1

    out = capsys.readouterr().out
    assert out.startswith(
        "incident_cases/refund.yaml:14: variants.generate[0].whisper: unknown variant generator "
        "'whisper' (known: "
    )
    assert "shout" in out


FREEZABLE_CASE = """\
# yaml-language-server: $schema=case.schema.json
id: INC-7
incident: {category: fairness, severity: major}
input:
  messages:
    - role: user
      content: Can I get a refund 40 days after purchase?
expect:
  - contains: 30 days   # the policy window
variants:
  generate:
    - typos: {count: 1}
    - paraphrase: {count: 2}
    - translation: {language: Spanish}
  # reviewed by support-ai
runs:
  repeats: 1
"""


def generator_script(body: dict[str, object]) -> Reply:
    messages = body["messages"]
    assert isinstance(messages, list)
    instruction = str(messages[0]["content"])
    version = "2" if "version 2" in instruction else "1"
    if "Translate" in instruction:
        return Reply(content="¿Puedo obtener un reembolso 40 días después de la compra?")
    return Reply(content=f"Is a refund still possible 40 days after buying? (v{version})")


def test_freeze_writes_model_made_variants_into_the_case_and_keeps_the_rest(
    project: Path, chat_server: ChatServer, capsys: pytest.CaptureFixture[str]
) -> None:
    path = project / "incident_cases" / "refund.yaml"
    path.parent.mkdir()
    path.write_text(FREEZABLE_CASE, encoding="utf-8")
    chat_server.set_script(generator_script)
    argv = [
        "variants",
        "incident_cases/refund.yaml",
        "--generator-model",
        "writer",
        "--generator-base-url",
        chat_server.base_url,
        "--freeze",
    ]

    assert main(argv) == 0

    out = capsys.readouterr().out
    assert out.splitlines()[-1] == (
        "froze 3 variant(s) into incident_cases/refund.yaml: paraphrase-1, paraphrase-2, "
        "translation-1"
    )
    text = path.read_text(encoding="utf-8")
    assert text.startswith(FREEZABLE_CASE.split("  generate:")[0])
    assert "    - typos: {count: 1}\n" in text
    assert "paraphrase: {count: 2}" not in text
    assert "translation: {language: Spanish}" not in text
    assert "  # reviewed by support-ai\n" in text
    assert text.endswith("runs:\n  repeats: 1\n")
    assert "  - name: translation-1\n" in text
    assert "# paraphrase-2: written by writer, frozen by incident-evals variants --freeze" in text

    # The frozen case needs no generator model: same ids, the model's words.
    capsys.readouterr()
    assert main(["variants", "incident_cases/refund.yaml"]) == 0
    shown = capsys.readouterr().out
    assert "[paraphrase-2] hand-written" in shown
    assert "  +    Is a refund still possible 40 days after buying? (v2)" in shown
    assert "[translation-1] hand-written" in shown
    assert "[typos-1] typos" in shown


def test_freeze_adds_to_existing_hand_written_variants(
    project: Path, chat_server: ChatServer, capsys: pytest.CaptureFixture[str]
) -> None:
    path = project / "incident_cases" / "refund.yaml"
    path.parent.mkdir()
    path.write_text(
        FREEZABLE_CASE.replace(
            "  # reviewed by support-ai\n",
            "  cases:\n    - name: polite\n      messages: [{role: user, content: Hi! Refund?}]\n",
        ).replace("    - typos: {count: 1}\n", ""),
        encoding="utf-8",
    )
    chat_server.set_script(generator_script)

    assert (
        main(
            [
                "variants",
                "incident_cases/refund.yaml",
                "--generator-model=writer",
                f"--generator-base-url={chat_server.base_url}",
                "--freeze",
            ]
        )
        == 0
    )

    text = path.read_text(encoding="utf-8")
    assert "generate" not in text
    names = [line.strip() for line in text.splitlines() if line.strip().startswith("- name:")]
    assert names == [
        "- name: polite",
        "- name: paraphrase-1",
        "- name: paraphrase-2",
        "- name: translation-1",
    ]


def test_freeze_without_a_generator_model_is_a_usage_error(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = project / "incident_cases" / "refund.yaml"
    path.parent.mkdir()
    path.write_text(FREEZABLE_CASE, encoding="utf-8")

    assert main(["variants", "incident_cases/refund.yaml", "--freeze"]) == 2

    assert capsys.readouterr().err == (
        "incident-evals variants: --freeze keeps variants written by a generator model: pass "
        "--generator-model NAME (and --generator-base-url URL)\n"
    )
    assert path.read_text(encoding="utf-8") == FREEZABLE_CASE


def test_freeze_with_a_variant_selection_is_a_usage_error(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = project / "incident_cases" / "refund.yaml"
    path.parent.mkdir()
    path.write_text(FREEZABLE_CASE, encoding="utf-8")
    argv = ["variants", "incident_cases/refund.yaml", "--variants", "1", "--freeze"]

    assert main([*argv, "--generator-model", "writer"]) == 2

    assert capsys.readouterr().err == (
        "incident-evals variants: --freeze keeps every variant: drop --variants\n"
    )
    assert path.read_text(encoding="utf-8") == FREEZABLE_CASE


def test_freeze_refuses_flow_style_and_leaves_the_file_alone(
    project: Path, chat_server: ChatServer, capsys: pytest.CaptureFixture[str]
) -> None:
    path = project / "incident_cases" / "refund.yaml"
    path.parent.mkdir()
    flow = FREEZABLE_CASE.split("variants:")[0] + (
        "variants: {generate: [{paraphrase: {count: 1}}]}\n"
    )
    path.write_text(flow, encoding="utf-8")
    chat_server.set_script(generator_script)

    code = main(
        [
            "variants",
            "incident_cases/refund.yaml",
            "--generator-model=writer",
            f"--generator-base-url={chat_server.base_url}",
            "--freeze",
        ]
    )

    assert code == 1
    assert capsys.readouterr().out.splitlines()[-1] == (
        "incident_cases/refund.yaml:2: cannot freeze: `variants` is written in flow style "
        "({...}); write it in block style"
    )
    assert path.read_text(encoding="utf-8") == flow
