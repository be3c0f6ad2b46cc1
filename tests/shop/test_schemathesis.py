"""Schemathesis against the document the app serves at ``/api/v1/openapi.json``, through the ASGI app, with
every check it has (no 500s, statuses, content types, headers and bodies as documented, valid data accepted,
invalid data refused, unsupported methods refused), positive and negative data, a bounded number of examples.

Hypothesis draws and shrinks in a worker thread; every request is sent on the test's own event loop (where the
database connections live) through the same ASGI app."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from factories import shop as factories

BASE = "http://testserver/api/v1"
EXAMPLES = 100  # per generation mode, over all operations


async def _send(client: httpx.AsyncClient, kwargs: dict[str, Any]) -> httpx.Response:
    return await client.request(
        kwargs["method"],
        kwargs["url"],
        headers=kwargs.get("headers"),
        params=kwargs.get("params"),
        json=kwargs.get("json"),
        content=kwargs.get("data"),
    )


def honour_the_mix_rule(case: schemathesis.Case) -> None:
    """``event.mix`` must add up to 100, as the document says in words (JSON Schema cannot): valid data keeps
    that rule, so the first mode drawn gets 100 and the others 0."""
    event = case.body.get("event") if isinstance(case.body, dict) else None
    if isinstance(event, dict) and isinstance(event.get("mix"), dict):
        modes = list(event["mix"]) or ["car"]
        event["mix"] = {mode: 100 if i == 0 else 0 for i, mode in enumerate(modes)}


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
async def test_the_api_keeps_its_document(app, client, mode):
    await factories.quota(100_000)
    served = await client.get("/api/v1/openapi.json")
    assert served.status_code == 200
    schema = schemathesis.openapi.from_dict(served.json())
    schema.app = app  # checks that send a request of their own (unsupported methods) go to the same app
    loop = asyncio.get_running_loop()

    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(schema.as_strategy(generation_mode=mode))
    def run(case: schemathesis.Case) -> None:
        if mode is GenerationMode.POSITIVE:
            honour_the_mix_rule(case)
        kwargs = case.as_transport_kwargs(base_url=BASE)
        response = asyncio.run_coroutine_threadsafe(_send(client, kwargs), loop).result(timeout=30)
        case.validate_response(response, transport_kwargs={"app": app})

    await asyncio.to_thread(run)
