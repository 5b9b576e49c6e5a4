"""``python -m incident_evals._llama_server``: llama_cpp.server with two fixes to its
``chatml-function-calling`` handler, and a crash report in its log.

- Tool-argument generation is capped. The handler generates tool arguments (and its text
  answers when tools are offered) with ``max_tokens=None``, so a small model that keeps filling
  an array of strings runs until the context is full: tens of seconds per call, then an HTTP
  400. The handler is re-registered so those inner generations stop at the request's own
  ``max_tokens`` (or ``UNBOUNDED_CAP``). A cut-off argument string is then malformed JSON, which
  the replay records as such.
- Prompts are plain text. The handler renders its prompt template in a jinja2 environment with
  ``autoescape=select_autoescape(["html", "xml"])``, which autoescapes templates made from
  strings: every ``"``, ``'``, ``&``, ``<`` and ``>`` of the messages reached the model as an
  HTML entity. A tool call's arguments ``{"to": ...}`` came back in the next turn's prompt as
  ``{&#34;to&#34;: ...}``; the model copied the entities into its next arguments, whose ``&`` the
  next turn escaped again (``&amp;#34;``), and so on. The launcher builds that environment with
  autoescape off, as chat templates are rendered elsewhere (transformers, llama.cpp itself).
- ``faulthandler`` writes the Python stack to the log when llama.cpp crashes the process (the
  signal still ends it, so the parent sees which one).

Everything else is llama_cpp.server as it is.
"""

from __future__ import annotations

import faulthandler
import os
import sys
from typing import Any

#: Set by the parent to its pid, so the server can tell whether it is already orphaned.
PARENT_PID_VARIABLE = "INCIDENT_EVALS_PARENT_PID"

#: The cap when the request sets no ``max_tokens``.
UNBOUNDED_CAP = 512
#: The handler also picks the tool's name by generation; that needs a few tokens whatever the
#: request's ``max_tokens`` (names are up to 64 characters).
MIN_CAP = 32
HANDLER = "chatml-function-calling"


class _CappedLlama:
    """Forwards to a ``Llama``, giving uncapped completions the request's ``max_tokens``."""

    def __init__(self, llama: Any, cap: int) -> None:
        self._llama = llama
        self._cap = cap

    def __getattr__(self, name: str) -> Any:
        return getattr(self._llama, name)

    def create_completion(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("max_tokens") is None:
            kwargs["max_tokens"] = self._cap
        return self._llama.create_completion(*args, **kwargs)


def install_cap() -> None:
    from llama_cpp import llama_chat_format

    registry = llama_chat_format.LlamaChatCompletionHandlerRegistry()  # type: ignore[no-untyped-call]
    original: Any = registry.get_chat_completion_handler_by_name(HANDLER)

    def capped(*, llama: Any, max_tokens: int | None = None, **kwargs: Any) -> Any:
        requested = max_tokens if max_tokens is not None and max_tokens > 0 else UNBOUNDED_CAP
        cap = max(requested, MIN_CAP)
        return original(llama=_CappedLlama(llama, cap), max_tokens=max_tokens, **kwargs)

    registry.register_chat_completion_handler(HANDLER, capped, overwrite=True)


def render_plain_text() -> None:
    """Build llama_chat_format's jinja2 environments with autoescape off (see the docstring)."""
    from llama_cpp import llama_chat_format

    module: Any = llama_chat_format
    environment: Any = module.ImmutableSandboxedEnvironment

    def plain_text_environment(*args: Any, **kwargs: Any) -> Any:
        kwargs["autoescape"] = False
        return environment(*args, **kwargs)

    # The handlers look the name up in their module at each call: this process only.
    module.ImmutableSandboxedEnvironment = plain_text_environment


def die_with_parent() -> None:
    """Ask Linux to end this server when pytest dies, even by SIGKILL (no cleanup runs then)."""
    parent = os.environ.get(PARENT_PID_VARIABLE)
    if not sys.platform.startswith("linux") or parent is None:
        return
    import ctypes
    import signal

    pr_set_pdeathsig = 1
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(pr_set_pdeathsig, signal.SIGTERM)
    if os.getppid() != int(parent):  # the parent died before prctl took effect
        sys.exit(1)


def main() -> None:
    faulthandler.enable()
    die_with_parent()
    render_plain_text()
    install_cap()
    from llama_cpp.server.__main__ import main as serve

    serve()  # type: ignore[no-untyped-call]


if __name__ == "__main__":
    main()
