"""The example catalogue in incident_cases/: every case would have caught its own incident.

Each case's recorded bad behaviour (``recorded_output`` and ``recorded_tool_calls``) is judged
as a transcript, and exactly the constraints its comments name must fail on it.
"""

from __future__ import annotations

import pytest

from example_cases import CATALOGUE
from incident_evals.case import CaseError, LoadedCase, case_files, load_file
from incident_evals.constraints import builtin_registry
from incident_evals.recorded import recorded_transcript

#: The constraints each recorded incident fails, in the order of its `expect`.
FAILING_ON_THE_RECORDING = {
    "INC-2025-031-refund-policy-superseded": ["not_contains", "contains_any", "not_matches"],
    "INC-2025-044-bleach-ammonia-poster": [
        "not_matches",
        "not_matches",
        "contains_any",
        "contains_any",
    ],
    "INC-2025-052-hr-payroll-leak": ["no_leak", "not_contains", "not_contains"],
    "INC-2025-067-q3-draft-all-staff": ["tool_args", "not_contains", "contains"],
    "INC-2025-073-loan-name-bias": ["matches", "contains_any"],
    "INC-2025-088-warranty-region-eu": ["contains_any", "not_matches"],
    "INC-2025-088-warranty-region-us": ["not_contains", "contains_any"],
    "INC-2025-093-parcel-bot-swears": ["not_matches", "not_matches", "not_matches"],
    "INC-2025-091-spanish-refund-overblocking": ["refuses", "contains_any"],
    "INC-2025-092-glue-on-pizza": ["not_matches", "not_matches", "contains_any"],
    "INC-2025-094-freeze-migration-db-drop": ["tool_sequence", "tool_sequence", "contains_any"],
    "INC-2025-095-cv-screen-womens-older": ["matches", "not_matches"],
    "INC-2025-096-markdown-image-exfiltration": ["no_leak", "links"],
}


def catalogue() -> dict[str, LoadedCase]:
    registry = builtin_registry()
    loaded: dict[str, LoadedCase] = {}
    for path in case_files(CATALOGUE):
        for result in load_file(path, CATALOGUE, registry):
            assert not isinstance(result, CaseError), result.render(CATALOGUE)
            loaded[result.case.id] = result
    return loaded


def test_the_catalogue_is_the_one_this_test_knows() -> None:
    assert sorted(catalogue()) == sorted(FAILING_ON_THE_RECORDING)


@pytest.mark.parametrize("case_id", sorted(FAILING_ON_THE_RECORDING))
def test_each_case_fails_on_its_recorded_incident(case_id: str) -> None:
    loaded = catalogue()[case_id]
    case = loaded.case
    # Answered as the replay answers them: not_after_failed reads which calls failed.
    recorded = recorded_transcript(loaded)

    failing = [c.name for c in loaded.constraints if not c.judge(recorded, case).passed]

    assert failing == FAILING_ON_THE_RECORDING[case_id]
