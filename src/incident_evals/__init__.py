"""pytest-incident-evals: AI incidents as regression evals."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("pytest-incident-evals")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0"

__all__ = ["__version__"]
