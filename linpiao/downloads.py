"""A stored file (:mod:`registry.storage`) as an HTTP response: streamed chunk by chunk from the folder or the
bucket, with its length, whatever server wrote it. Callers check who may read it first."""

from __future__ import annotations

from starlette.responses import StreamingResponse

from kernel.security import attachment
from registry.storage import Download


def stored_response(
    download: Download, *, media_type: str, filename: str = "", headers: dict[str, str] | None = None
) -> StreamingResponse:
    """``filename``: offered for saving (``Content-Disposition: attachment``); none: shown inline."""
    extra = {"Content-Length": str(download.size), "X-Content-Type-Options": "nosniff", **(headers or {})}
    if filename:
        extra["Content-Disposition"] = attachment(filename)
    return StreamingResponse(download.chunks(), media_type=media_type, headers=extra)
