"""The one place that reads pytest-xdist's internals: which items a worker has been handed.

A worker learns its items a few at a time, and runs them in order; to send an item's requests
before pytest reaches it, the plugin needs the items already scheduled on this worker. xdist has
no public API for that, so this module reads the worker's queue (``WorkerInteractor.torun``, a
lockable deque of item indices, as xdist 3 keeps it). If a future xdist keeps it elsewhere, this
returns nothing and a worker still sends each item's requests (and the next item's) as it
reaches them: slower, never wrong. ``tests/plugin/test_xdist_queue.py`` runs it under real xdist.
"""

from __future__ import annotations

import pytest


def scheduled_items(session: pytest.Session) -> list[pytest.Item]:
    """The items xdist has handed this worker and not yet run; ``[]`` outside a worker or when
    xdist keeps its queue in another way."""
    # xdist registers its worker object without a name: found by type.
    interactor = next(
        (
            plugin
            for plugin in session.config.pluginmanager.get_plugins()
            if type(plugin).__name__ == "WorkerInteractor"
        ),
        None,
    )
    queue = getattr(interactor, "torun", None)
    lock = getattr(queue, "lock", None)
    if lock is None:
        return []
    with lock() as scheduled:
        indices = [index for index in scheduled if isinstance(index, int)]
    return [session.items[index] for index in indices if 0 <= index < len(session.items)]
