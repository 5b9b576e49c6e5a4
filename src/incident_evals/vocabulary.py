"""The words the case format and the results document share, each defined once."""

from __future__ import annotations

#: Most severe first: the order every report lists them in.
SEVERITIES = ("critical", "major", "minor")
CATEGORIES = ("correctness", "safety", "security", "autonomy", "fairness")
STATUSES = ("open", "mitigated", "resolved")
OUTCOMES = ("passed", "failed", "error", "xfailed", "xpassed", "skipped")
REGRESSION_STATUSES = ("regressed", "fixed", "unchanged", "new", "removed")
