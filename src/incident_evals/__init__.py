"""pytest-incident-evals: AI incidents as regression evals."""

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from incident_evals.catalogue import Catalogue
    from incident_evals.results import Results

try:
    __version__ = version("pytest-incident-evals")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0"

__all__ = ["Catalogue", "Results", "__version__"]


def __getattr__(name: str) -> object:
    # Loaded on first use: pytest imports this package for its plugin, which must cost nothing
    # in a run without --incident-evals.
    if name == "Catalogue":
        from incident_evals.catalogue import Catalogue

        return Catalogue
    if name == "Results":
        from incident_evals.results import Results

        return Results
    raise AttributeError(f"module 'incident_evals' has no attribute {name!r}")
