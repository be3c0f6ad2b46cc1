"""Checking that CPU-heavy work (a PDF drawn, a file parsed) runs in :mod:`registry.cpu`'s file pool, off the event
loop: :func:`watch_threads` wraps a function where its caller looks it up and records the thread of every call."""

from __future__ import annotations

import threading
from typing import Any

import pytest


def watch_threads(monkeypatch: pytest.MonkeyPatch, owner: object, name: str) -> list[threading.Thread]:
    """Replace ``owner.name`` by a wrapper that records the thread of each call; the list it returns fills up."""
    threads: list[threading.Thread] = []
    real = getattr(owner, name)

    def watched(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread())
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, watched)
    return threads


def in_file_pool(threads: list[threading.Thread]) -> bool:
    """Called exactly once, in one of the file pool's threads (never on the loop's)."""
    return (
        len(threads) == 1 and threads[0] is not threading.main_thread() and threads[0].name.startswith("linpiao-file")
    )
