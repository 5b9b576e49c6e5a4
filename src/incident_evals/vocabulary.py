"""The fixed words of case files and results: each list written once, here.

The shipped schemas (``schemas/case.schema.json``, ``schemas/results.schema.json``) hold the same
lists as enums; a unit test keeps the two equal. This module imports nothing of the package, so
that any module may use it.

Each tuple is in the order reports show it: severities most severe first, the rest as the
schemas list them.
"""

from __future__ import annotations

__all__ = [
    "APIS",
    "CATEGORIES",
    "GATES",
    "OUTCOMES",
    "REGENERATE",
    "REGRESSION_STATUSES",
    "SEVERITIES",
    "SEVERITIES_ASCENDING",
    "STABILITY_CLASSES",
    "STATUSES",
]

#: ``incident.severity``, most severe first: reports list and sort items this way.
SEVERITIES = ("critical", "major", "minor")
#: The same from the least severe up, as the case schema, its messages, the prompts of
#: ``incident-evals new`` and the marker list (``pytest --markers``) write the scale.
SEVERITIES_ASCENDING = SEVERITIES[::-1]
#: ``incident.category``.
CATEGORIES = ("correctness", "safety", "security", "autonomy", "fairness")
#: ``incident.status``.
STATUSES = ("open", "mitigated", "resolved")
#: An item's ``outcome`` in the results document.
OUTCOMES = ("passed", "failed", "error", "xfailed", "xpassed", "skipped")
#: An item's ``regression.status`` against a baseline.
REGRESSION_STATUSES = (
    "regressed",
    "inconclusive",
    "fixed",
    "unchanged",
    "changed",
    "new",
    "removed",
)
#: An item's ``stability``, from its samples: all passed, some did, none did.
STABILITY_CLASSES = ("stable_pass", "flaky", "stable_fail")
#: ``runs.gate``: how a regression of the item is decided against its baseline.
GATES = ("any_failure", "pass_rate")
#: The APIs a replay speaks (``--incident-api``, ``model.api``); the first is the default.
APIS = ("chat", "responses")
#: ``input.regenerate``: which assistant turns a sample generates; the first is the default.
REGENERATE = ("last", "all")
