"""Work sent off the event loop (registry.cpu) sees the caller's context variables, as ``asyncio.to_thread`` does:
a PDF drawn in the file pool speaks the request's language."""

from __future__ import annotations

from kernel.i18n import current_locale
from registry import cpu


async def test_file_and_hash_work_see_the_callers_language():
    token = current_locale.set("en")
    try:
        assert await cpu.file_work(current_locale.get) == "en"
        assert await cpu.hash_work(current_locale.get) == "en"
    finally:
        current_locale.reset(token)
    assert await cpu.file_work(current_locale.get) == current_locale.get()
