"""The postmortem's record on ``incident``: dates, impact and actions (``incident_evals.case``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from case_files import case_data, write_case
from incident_evals.case import Action, CaseError, LoadedCase, load_file
from incident_evals.constraints import builtin_registry

RECORD = """\
id: INC-7
incident:
  category: autonomy
  severity: critical
  date: 2025-10-30
  detected: 2025-10-31T09:12Z
  mitigated: 2025-10-31
  resolved: 2025-11-14
  impact: 4,200 staff received a draft.
  actions:
    - description: Require confirmation before sending to a list
      owner: agents-team@acme.example
      due: 2025-11-30
      status: done
      ticket: AGENT-311
    - description: Add the all-staff alias to the deny list
input: {messages: [{role: user, content: hi}]}
expect: [{not_contains: x}]
"""


def load_text(tmp_path: Path, text: str) -> LoadedCase | CaseError:
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    [result] = load_file(path, tmp_path, builtin_registry())
    return result


def test_the_record_is_read_with_its_lines(tmp_path: Path) -> None:
    loaded = load_text(tmp_path, RECORD)
    assert isinstance(loaded, LoadedCase), loaded
    incident = loaded.case.incident
    assert (incident.detected, incident.mitigated, incident.resolved) == (
        "2025-10-31T09:12Z",
        "2025-10-31",
        "2025-11-14",
    )
    assert incident.impact == "4,200 staff received a draft."
    assert incident.actions == (
        Action(
            "Require confirmation before sending to a list",
            "agents-team@acme.example",
            "2025-11-30",
            "done",
            "AGENT-311",
            line=11,
        ),
        Action("Add the all-staff alias to the deny list", line=16),
    )


def test_a_case_without_a_record_has_none(tmp_path: Path) -> None:
    [loaded] = load_file(write_case(tmp_path, "c.yaml", case_data()), tmp_path, builtin_registry())
    assert isinstance(loaded, LoadedCase)
    assert loaded.case.incident.actions == ()
    assert loaded.case.incident.resolved is None


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "resolved: 2025-11-14",
            "resolved: 2025-10-20",
            "c.yaml:8: incident.resolved: 2025-10-20 is before incident.mitigated (2025-10-31): "
            "the record runs date <= detected <= mitigated <= resolved",
        ),
        (
            "detected: 2025-10-31T09:12Z",
            "detected: 2025-10-29",
            "c.yaml:6: incident.detected: 2025-10-29 is before incident.date (2025-10-30): "
            "the record runs date <= detected <= mitigated <= resolved",
        ),
        (
            "mitigated: 2025-10-31",
            "mitigated: 2025-02-30",
            "c.yaml:7: incident.mitigated: '2025-02-30' is not a calendar date (YYYY-MM-DD)",
        ),
        (
            "mitigated: 2025-10-31",
            "mitigated: last tuesday",
            "c.yaml:7: incident.mitigated: 'last tuesday' is not an ISO date: write YYYY-MM-DD, "
            "optionally with a time (2025-11-02T14:30Z)",
        ),
        (
            "due: 2025-11-30",
            "due: 2025-13-01",
            "c.yaml:13: incident.actions[0].due: '2025-13-01' is not a calendar date (YYYY-MM-DD)",
        ),
        (
            "status: done",
            "status: finished",
            "c.yaml:14: incident.actions[0].status: 'finished' is not one of ['open', 'done', "
            "'dropped']",
        ),
        (
            "    - description: Add the all-staff alias to the deny list",
            "    - owner: nobody",
            "c.yaml:16: incident.actions[1].description: required field is missing",
        ),
    ],
)
def test_a_bad_record_is_one_line_naming_the_field(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    assert old in RECORD
    error = load_text(tmp_path, RECORD.replace(old, new))
    assert isinstance(error, CaseError)
    assert error.render(tmp_path) == message


def test_the_resolved_date_may_be_the_day_it_was_mitigated(tmp_path: Path) -> None:
    text = RECORD.replace("resolved: 2025-11-14", "resolved: 2025-10-31T18:00+01:00")
    assert isinstance(load_text(tmp_path, text), LoadedCase)


def test_a_free_form_incident_date_is_kept_and_not_ordered(tmp_path: Path) -> None:
    loaded = load_text(tmp_path, RECORD.replace("date: 2025-10-30", "date: late October 2025"))
    assert isinstance(loaded, LoadedCase), loaded
    assert loaded.case.incident.date == "late October 2025"
