"""The embedded model in tests: required under CI, skipped elsewhere when not installed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def require_local_model() -> Path:
    """The GGUF path; skips when the ``[local]`` extra is missing, except under CI (then fails)."""
    from incident_evals.local_model import LocalModelUnavailable, find_local_model

    try:
        return find_local_model()
    except LocalModelUnavailable as exc:
        if os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}:
            pytest.fail(f"CI must run the local model tests, but: {exc}")
        pytest.skip(f"the [local] extra is not installed: {exc}")
