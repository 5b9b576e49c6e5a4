"""``python -m incident_evals._llama_server``: llama_cpp.server with parallel slots, two fixes to
its ``chatml-function-calling`` handler, and a crash report in its log.

- Parallel slots (``--slots N``). llama_cpp.server loads one ``Llama`` (one llama.cpp context
  holding one sequence) and holds one lock around it for the whole of each request, so it
  answers one request at a time, and its settings have no parallel or batching option. The
  launcher loads the model once per slot instead (``LlamaProxy`` objects, each with its own
  context of ``--n_ctx`` tokens, sharing the mmapped weights) and hands each request a free
  slot, so N requests generate at once on N threads; llama.cpp releases the GIL while it
  computes. Of the free slots, a request gets the one whose last prompt shares the most
  leading messages with its own, so llama.cpp re-evaluates only what differs (a case's
  variants share its system prompt and documents). With ``--slots 1`` it is the server's own
  single lock, as before.
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
from dataclasses import dataclass, field
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


@dataclass
class Slot:
    """One model context of the server, and the prompt it last served."""

    number: int
    proxy: Any
    #: The messages (or completion prompt) of its last request: llama.cpp keeps their tokens in
    #: the context and evaluates only what follows the part a new prompt shares with them.
    last: list[Any] = field(default_factory=list)


def shared_prefix(one: list[Any], other: list[Any]) -> int:
    """How many leading items the two lists share."""
    count = 0
    for mine, theirs in zip(one, other, strict=False):
        if mine != theirs:
            break
        count += 1
    return count


def take_slot(free: list[Slot], prompt: list[Any]) -> Slot:
    """The free slot whose last prompt shares the most leading messages with ``prompt`` (the
    system message with its documents is the long one), the most recently freed on a tie."""
    best = max(range(len(free)), key=lambda at: (shared_prefix(free[at].last, prompt), at))
    slot = free.pop(best)
    slot.last = prompt
    return slot


class _Lease:
    """A request's permit for one slot; which slot is chosen once its body is seen."""

    slot: Slot | None = None


def _prompt_of(body: Any) -> list[Any]:
    messages = getattr(body, "messages", None)
    return list(messages) if messages is not None else [getattr(body, "prompt", None)]


def install_slots(count: int) -> None:
    """Serve ``count`` requests at once, each on a model context of its own (see the
    docstring). The routes look ``get_llama_proxy``, ``set_llama_proxy`` and
    ``prepare_request_resources`` up in their module at each call: this process only."""
    if count == 1:
        return
    import anyio
    from llama_cpp.server import app as server_app
    from llama_cpp.server.model import LlamaProxy

    module: Any = server_app
    free: list[Slot] = []
    permits = anyio.Semaphore(count)
    prepare = module.prepare_request_resources

    def load_slots(model_settings: list[Any]) -> None:
        free.extend(Slot(number, LlamaProxy(models=model_settings)) for number in range(count))
        # The routes that only read the model (its list, tokenising) keep the first one.
        module._llama_proxy = free[0].proxy
        print(f"{SLOT_LOG_PREFIX}s: {count} loaded", flush=True)

    async def lease_slot() -> AsyncIterator[Any]:
        async with permits:
            lease = _Lease()
            try:
                yield lease
            finally:
                if lease.slot is not None:
                    print(
                        f"{SLOT_LOG_PREFIX} {lease.slot.number} end {time.time():.6f}", flush=True
                    )
                    free.append(lease.slot)

    def prepare_on_a_slot(body: Any, proxy: Any, body_model: Any, kwargs: Any) -> Any:
        if isinstance(proxy, _Lease):
            # Every route calls this right after taking its permit, in the event loop, with no
            # await in between: a permit always finds a free slot.
            proxy.slot = take_slot(free, _prompt_of(body))
            print(f"{SLOT_LOG_PREFIX} {proxy.slot.number} start {time.time():.6f}", flush=True)
            proxy = proxy.slot.proxy
        return prepare(body, proxy, body_model, kwargs)

    module.set_llama_proxy = load_slots
    module.get_llama_proxy = lease_slot
    module.prepare_request_resources = prepare_on_a_slot


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
