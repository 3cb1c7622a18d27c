"""Heartbeats from a long activity running in a worker thread: when its worker dies mid-way,
Temporal gives the attempt up after the heartbeat timeout and retries it on a live worker,
instead of waiting out the activity's whole start-to-close time (30 minutes for a recording)."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from temporalio import activity


@contextmanager
def heartbeating(every_seconds: float) -> Iterator[None]:
    """Heartbeat every `every_seconds` while the block runs (nothing outside an activity)."""
    if not activity.in_activity():
        yield
        return
    stop = threading.Event()
    # the activity's context travels with the beats: heartbeat() finds its activity there
    context = contextvars.copy_context()

    def beat() -> None:
        while not stop.wait(every_seconds):
            context.run(activity.heartbeat)

    beating = threading.Thread(target=beat, name="activity-heartbeat", daemon=True)
    beating.start()
    try:
        yield
    finally:
        stop.set()
        beating.join()
