"""The installed version, in a module of its own: the package's face imports its front-ends
lazily, and the results document names the version without importing them."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("pytest-incident-evals")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0"
