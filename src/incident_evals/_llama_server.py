"""``python -m incident_evals._llama_server``: llama_cpp.server with parallel slots, two fixes to
its ``chatml-function-calling`` handler, and a crash report in its log.

- Parallel slots (``--slots N``). llama_cpp.server loads one ``Llama`` (one llama.cpp context
  holding one sequence) and holds one lock around it for the whole of each request, so it
  answers one request at a time, and its settings have no parallel or batching option. The
  launcher loads the model once per slot instead (``LlamaProxy`` objects, each with its own
  context of ``--n_ctx`` tokens, sharing the mmapped weights) and hands each request a free
  slot, so N requests generate at once on N threads; llama.cpp releases the GIL while it
  computes. With ``--slots 1`` it is the server's own single lock, as before.
- Generation is capped. The handler generates tool arguments (and its text answers when tools
  are offered) with ``max_tokens=None``, and passes the request's ``max_tokens=None`` on for
  plain answers, so a small model that keeps filling an array of strings runs until the context
  is full: tens of seconds per call, then an HTTP 400. The handler is re-registered so every
  generation stops at the request's own ``max_tokens`` (or ``UNBOUNDED_CAP``). A cut-off
  argument string is then malformed JSON, which the replay records as such.
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
import time
from collections.abc import AsyncIterator
from typing import Any

#: Set by the parent to its pid, so the server can tell whether it is already orphaned.
PARENT_PID_VARIABLE = "INCIDENT_EVALS_PARENT_PID"

#: The cap when the request sets no ``max_tokens``.
UNBOUNDED_CAP = 512
#: The handler also picks the tool's name by generation; that needs a few tokens whatever the
#: request's ``max_tokens`` (names are up to 64 characters).
MIN_CAP = 32
HANDLER = "chatml-function-calling"
#: Each request's slot, and when it took and freed it, go to the log: ``slot 1 start <time>``.
SLOT_LOG_PREFIX = "incident-evals slot"


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
        return original(llama=_CappedLlama(llama, cap), max_tokens=requested, **kwargs)

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


def take_slots(argv: list[str]) -> int:
    """Remove ``--slots N`` from ``argv`` (llama_cpp.server's parser does not know it); N."""
    slots = 1
    while "--slots" in argv:
        at = argv.index("--slots")
        try:
            slots = int(argv[at + 1])
        except (IndexError, ValueError):
            sys.exit("--slots needs a whole number")
        del argv[at : at + 2]
    if slots < 1:
        sys.exit("--slots needs a whole number of at least 1")
    return slots


def install_slots(count: int) -> None:
    """Serve ``count`` requests at once, each on a model context of its own (see the
    docstring). The routes look ``get_llama_proxy`` and ``set_llama_proxy`` up in their module
    at each call: this process only."""
    if count == 1:
        return
    import anyio
    from llama_cpp.server import app as server_app
    from llama_cpp.server.model import LlamaProxy

    module: Any = server_app
    free: list[tuple[int, Any]] = []
    slots = anyio.Semaphore(count)

    def load_slots(model_settings: list[Any]) -> None:
        free.extend((number, LlamaProxy(models=model_settings)) for number in range(count))
        # The routes that only read the model (its list, tokenising) keep the first one.
        module._llama_proxy = free[0][1]
        print(f"{SLOT_LOG_PREFIX}s: {count} loaded", flush=True)

    async def free_slot() -> AsyncIterator[Any]:
        async with slots:
            # No await between the semaphore and the pop: the list always has one. The most
            # recently freed slot goes first: it holds the last prompt, which llama.cpp reuses.
            number, proxy = free.pop()
            print(f"{SLOT_LOG_PREFIX} {number} start {time.time():.6f}", flush=True)
            try:
                yield proxy
            finally:
                print(f"{SLOT_LOG_PREFIX} {number} end {time.time():.6f}", flush=True)
                free.append((number, proxy))

    module.set_llama_proxy = load_slots
    module.get_llama_proxy = free_slot


def main() -> None:
    faulthandler.enable()
    die_with_parent()
    slots = take_slots(sys.argv)
    render_plain_text()
    install_cap()
    install_slots(slots)
    from llama_cpp.server.__main__ import main as serve

    serve()  # type: ignore[no-untyped-call]


if __name__ == "__main__":
    main()
