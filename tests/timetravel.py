"""Run the whole suite, and the processes it starts, at another time of day.

``LINPIAO_TEST_CLOCK=17:00 pytest`` moves the wall clock of the test process to today's 17:00 UTC (01:00 of the
next day in Yinchuan) with ``time-machine``, ticking from there; ``LINPIAO_TEST_CLOCK=2026-12-31T16:30:00+00:00``
takes a full instant. The offset is handed to every child process the suite starts through
:func:`python_module` (``python tests/timetravel.py MODULE ARGS…`` applies it, then runs the module), so a live
server and the test that drives it agree on the time. CI runs the suite once this way: a rule that reads the
UTC date where it means the Beijing date fails there.
"""

from __future__ import annotations

import os
import runpy
import sys
from datetime import UTC, datetime, time, timedelta

import time_machine

CLOCK_VARIABLE = "LINPIAO_TEST_CLOCK"
OFFSET_VARIABLE = "LINPIAO_TEST_CLOCK_OFFSET"  # seconds between the travelled and the real clock


def _destination(value: str, real_now: datetime) -> datetime:
    if "T" in value:
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            raise ValueError(f"{CLOCK_VARIABLE} needs a time zone: {value}")
        return moment
    return datetime.combine(real_now.date(), time.fromisoformat(value), UTC)


def start_from_environment() -> datetime | None:
    """Travel as the environment asks (once per process); return the travelled 'now', or ``None``."""
    offset = os.environ.get(OFFSET_VARIABLE)
    real_now = datetime.now(UTC)
    if offset is None:
        value = os.environ.get(CLOCK_VARIABLE, "").strip()
        if not value:
            return None
        offset = str((_destination(value, real_now) - real_now).total_seconds())
        os.environ[OFFSET_VARIABLE] = offset
    destination = real_now + timedelta(seconds=float(offset))
    time_machine.travel(destination, tick=True).start()
    return destination


def python_module(module: str) -> list[str]:
    """The command that runs ``python -m module`` in a child process on the suite's clock."""
    if os.environ.get(OFFSET_VARIABLE):
        return [sys.executable, __file__, module]  # by path: the child may run in another directory
    return [sys.executable, "-m", module]


if __name__ == "__main__":
    start_from_environment()
    sys.path[0] = os.getcwd()  # as ``python -m`` would have it
    target = sys.argv[1]
    sys.argv = [target, *sys.argv[2:]]
    runpy.run_module(target, run_name="__main__", alter_sys=True)
