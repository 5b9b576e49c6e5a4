"""The placeholders of ``incident-evals new``'s skeleton: found, and refused by the loader."""

from __future__ import annotations

from pathlib import Path

import pytest

from incident_evals.intake import render_case
from incident_evals.placeholders import OUTPUT, PLACEHOLDERS, SYSTEM, TRIGGER, find_placeholder
from transcripts import load_case, load_error


def test_every_placeholder_is_text_the_skeleton_holds() -> None:
    skeleton = render_case(
        {
            "id": "INC-1",
            "title": "t",
            "incident": {"category": "safety", "severity": "minor", "status": "resolved"},
            "input": {"messages": [{"role": "user", "content": TRIGGER}]},
        },
        "../case.schema.json",
        None,
        literal=True,
    )

    # The trigger as a value, the others in the commented examples an engineer may uncomment.
    assert f"content: '{TRIGGER}'" in skeleton
    assert f"  # system: {SYSTEM}\n" in skeleton
    assert f"# recorded_output: |\n#   {OUTPUT}\n" in skeleton
    assert {TRIGGER, SYSTEM, OUTPUT} == PLACEHOLDERS


def test_the_first_placeholder_in_file_order_is_found_with_its_path() -> None:
    data = {
        "id": "INC-1",
        "input": {
            "system": f"  {SYSTEM}\n",
            "messages": [{"role": "user", "content": "real"}, {"role": "user", "content": TRIGGER}],
        },
        "recorded_output": OUTPUT,
    }

    assert find_placeholder(data) == (("input", "system"), SYSTEM)
    del data["input"]["system"]  # type: ignore[attr-defined]
    assert find_placeholder(data) == (("input", "messages", 1, "content"), TRIGGER)


@pytest.mark.parametrize(
    "text",
    [
        "TODO: buy milk",  # a real message may be a TODO note
        f"{TRIGGER} (edited)",
        "todo: the user message that triggered the incident, word for word",
        "the bad answer",
    ],
)
def test_text_that_is_not_exactly_a_placeholder_is_not_one(text: str) -> None:
    assert find_placeholder({"input": {"messages": [{"content": text}]}}) is None


def test_hand_written_variants_are_looked_at_too() -> None:
    data = {
        "input": {"messages": [{"role": "user", "content": "real"}]},
        "variants": {"cases": [{"name": "a"}, {"name": "b", "messages": [{"content": TRIGGER}]}]},
    }

    assert find_placeholder(data) == (("variants", "cases", 1, "messages", 0, "content"), TRIGGER)


def test_only_the_fields_the_skeleton_fills_are_looked_at() -> None:
    # A constraint may quote the placeholder: it is not the case's input.
    data = {"input": {"messages": [{"content": "real"}]}, "expect": [{"not_contains": TRIGGER}]}

    assert find_placeholder(data) is None


CASE = """\
input:
  system: {system}
  messages:
    - role: user
      content: {content}
{recorded}expect:
  - not_contains: 60 days
"""


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        pytest.param(
            {"content": f"'{TRIGGER}'"},
            f"case.yaml:7: input.messages[0].content: still the placeholder that incident-evals "
            f"new wrote ({TRIGGER!r}): replace it with the incident's own text",
            id="trigger",
        ),
        pytest.param(
            {"system": SYSTEM},
            f"case.yaml:4: input.system: still the placeholder that incident-evals new wrote "
            f"({SYSTEM!r}): replace it with the incident's own text",
            id="system",
        ),
        pytest.param(
            {"recorded": f"recorded_output: |\n  {OUTPUT}\n"},
            f"case.yaml:8: recorded_output: still the placeholder that incident-evals new wrote "
            f"({OUTPUT!r}): replace it with the incident's own text",
            id="recorded-output",
        ),
    ],
)
def test_a_case_holding_a_placeholder_does_not_load(
    tmp_path: Path, fields: dict[str, str], error: str
) -> None:
    values = {"system": "You are Acme's bot.", "content": "Can I get a refund?", "recorded": ""}

    assert load_error(tmp_path, CASE.format(**{**values, **fields})) == error


def test_the_same_case_with_its_own_text_loads(tmp_path: Path) -> None:
    body = CASE.format(
        system="You are Acme's bot.", content="'TODO: ask for a refund'", recorded=""
    )

    assert load_case(tmp_path, body).case.input.messages[0]["content"] == "TODO: ask for a refund"
