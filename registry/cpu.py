"""CPU-bound work off the event loop, in small bounded thread pools.

A request that hashes a password (argon2id: tens to hundreds of milliseconds and 64 MiB by design) or reads an
uploaded spreadsheet must not stall every other request of the worker process. :func:`hash_work` runs a
function in the password pool, :func:`file_work` in the file pool; each pool has a fixed number of threads, so a
flood of logins or uploads queues instead of taking the whole machine, and the event loop keeps answering.

argon2-cffi releases the GIL while hashing, so hashes truly run beside the loop. Parsing with openpyxl holds the
GIL; in a thread the interpreter still switches back to the loop every few milliseconds
(``sys.getswitchinterval()``), and the roster reader bounds the work itself (rows counted, unpacked size capped
before openpyxl opens a file: :mod:`planting.shop.roster`).
"""

from __future__ import annotations

import asyncio
import contextvars
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

# argon2 takes memory as well as time (64 MiB a hash with the library's defaults): a few at once per process.
HASH_WORKERS = max(2, min(4, os.cpu_count() or 2))
FILE_WORKERS = 2

_hash_pool = ThreadPoolExecutor(max_workers=HASH_WORKERS, thread_name_prefix="linpiao-hash")
_file_pool = ThreadPoolExecutor(max_workers=FILE_WORKERS, thread_name_prefix="linpiao-file")


async def _run(pool: ThreadPoolExecutor, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    # the caller's context variables go along (like asyncio.to_thread): the request's language, for one
    context = contextvars.copy_context()
    return await asyncio.get_running_loop().run_in_executor(pool, partial(context.run, fn, *args, **kwargs))


async def hash_work(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``await hash_work(hasher.verify, stored, given)``: password hashing in the bounded password pool."""
    return await _run(_hash_pool, fn, *args, **kwargs)


async def file_work(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``await file_work(parse_roster, data, name)``: parsing an upload in the bounded file pool."""
    return await _run(_file_pool, fn, *args, **kwargs)
