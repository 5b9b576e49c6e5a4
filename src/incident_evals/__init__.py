"""pytest-incident-evals: AI incidents as regression evals.

PYTEST_DONT_REWRITE: the package holds no tests, and its modules are imported as plain modules
under pytest (``pytest_incident_evals`` says why); these words tell a later pytest session in the
same process (``pytest.main()`` called twice, pytester) not to warn that it cannot rewrite them.
"""

from typing import TYPE_CHECKING

from incident_evals._version import __version__

if TYPE_CHECKING:
    from incident_evals.catalogue import Catalogue
    from incident_evals.results import Results

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
