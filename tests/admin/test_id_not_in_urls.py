"""A whole resident ID number never travels in a URL (server and proxy logs keep URLs): registering a holder of
another district, searching the holders list and the pickers by the number — every request URL and every
redirect's Location is recorded and scanned. Names and the last four stay plain, bookmarkable ``?q=`` searches."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import unquote

import httpx
import pytest

from admin import sealed_search
from factories import id_of, make_holder, resident_id
from kernel import clock
from registry.models import Holder, StaffRole

ISS = StaffRole.ISSUER


class Recorder:
    """Every URL a client asked for and every Location it was sent to."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.urls: list[str] = []
        client.event_hooks["request"].append(self._request)
        client.event_hooks["response"].append(self._response)

    async def _request(self, request: httpx.Request) -> None:
        self.urls.append(str(request.url))

    async def _response(self, response: httpx.Response) -> None:
        if location := response.headers.get("location"):
            self.urls.append(location)

    def assert_clean(self, number: str) -> None:
        assert self.urls, "nothing was recorded"
        for url in self.urls:
            folded = unquote(url).replace(" ", "").upper()
            assert number not in folded and number[:6] + " " + number[6:] not in unquote(url), url


def listed_names(html: str) -> set[str]:
    return set(re.findall(r'<a href="/admin/holders/\d+">([^<]+)</a>', html))


@pytest.fixture
async def issuer(sign_in):  # type: ignore[no-untyped-def]
    staff = await sign_in(ISS, "url-issuer", "640104")
    staff.recorder = Recorder(staff.client)
    return staff


async def test_registering_a_holder_of_another_district_redirects_without_the_number(issuer):
    number = resident_id("642125", birth="19750101")
    response = await issuer.post(
        "/admin/holders",
        {
            "kind": "individual",
            "name": "马灵武",
            "id_number": number,
            "informed": "1",
            "residence_district": "640181",
            "residence_evidence": "household_register",
        },
    )
    assert response.status_code == 303 and response.headers["location"].startswith("/admin/holders?s=")
    found = await issuer.get(response.headers["location"])
    holder = await Holder.get(name="马灵武")
    assert found.status_code == 200 and 'data-testid="holder-elsewhere"' in found.text and "马灵武" in found.text
    assert f"/admin/holders/{holder.id}" not in found.text  # still only named, not opened, in 兴庆区
    issuer.recorder.assert_clean(number)


async def test_a_search_by_the_whole_number_is_posted_and_sealed(issuer):
    mine = await make_holder("李秋菊", region="640104")
    number = id_of(mine)
    page = (await issuer.get("/admin/holders")).text
    assert 'method="post" action="/admin/holders/search"' in page and 'name="csrf"' in page
    for typed in (number, number.lower(), f" {number[:6]} {number[6:]} "):
        sent = await issuer.post("/admin/holders/search", {"q": typed, "kind": "individual", "sort": "-name"})
        location = sent.headers["location"]
        assert sent.status_code == 303 and "s=" in location and "q=" not in location
        assert "kind=individual" in location and "sort=-name" in location  # the other filters stay readable
        result = await issuer.get(location)
        assert listed_names(result.text) == {"李秋菊"}
        assert 'data-testid="search-expired"' not in result.text
    issuer.recorder.assert_clean(number)
    # the same number sealed twice looks different: the logs cannot even tell two searches were for one person
    first = (await issuer.post("/admin/holders/search", {"q": number})).headers["location"]
    second = (await issuer.post("/admin/holders/search", {"q": number})).headers["location"]
    assert first != second


async def test_names_and_the_last_four_stay_bookmarkable(issuer):
    mine = await make_holder("李秋菊", region="640104")
    by_name = await issuer.post("/admin/holders/search", {"q": "李秋"})
    assert by_name.headers["location"] == "/admin/holders?q=%E6%9D%8E%E7%A7%8B"
    assert listed_names((await issuer.get(by_name.headers["location"])).text) == {"李秋菊"}
    tail = id_of(mine)[-4:]
    by_tail = await issuer.post("/admin/holders/search", {"q": tail})
    assert by_tail.headers["location"] == f"/admin/holders?q={tail}"
    assert (await issuer.post("/admin/holders/search", {})).headers["location"] == "/admin/holders"


async def test_a_sealed_search_expires_and_cannot_be_forged(issuer, settings):
    mine = await make_holder("李秋菊", region="640104")
    with clock.use(clock.FixedClock(clock.now() - sealed_search.TTL - timedelta(minutes=1))):
        old = sealed_search.seal(settings.secret_key, id_of(mine))
    expired = await issuer.get(f"/admin/holders?s={old}")
    assert expired.status_code == 200 and 'data-testid="search-expired"' in expired.text
    assert '<input id="q" name="q" value="">' in expired.text  # nothing searched: the number is asked again
    english = await issuer.get(f"/admin/holders?s={old}&lang=en")
    assert "The search by ID number has expired" in english.text
    fresh = sealed_search.seal(settings.secret_key, id_of(mine))
    forged = fresh[:-3] + ("AAA" if not fresh.endswith("AAA") else "BBB")
    assert 'data-testid="search-expired"' in (await issuer.get(f"/admin/holders?s={forged}")).text
    other_key = sealed_search.seal("another secret key", id_of(mine))
    assert 'data-testid="search-expired"' in (await issuer.get(f"/admin/holders?s={other_key}")).text
    assert sealed_search.unseal(settings.secret_key, fresh) == id_of(mine)


async def test_the_pickers_post_the_typed_number(issuer, sign_in):
    other = await make_holder("李秋生", region="640122")  # 贺兰县: not the 兴庆区 issuer's
    number = id_of(other)
    form = await issuer.get("/admin/trades/transfer/new")
    assert 'hx-post="/admin/pick/holders?field=buyer_id' in form.text and "hx-get=" not in form.text
    csrf = issuer.csrf
    picked = await issuer.client.post(
        "/admin/pick/holders?field=buyer_id&action=read&required=1",
        data={"csrf": csrf, "buyer_id__q": number, "seller_id__q": ""},
    )
    assert picked.status_code == 200 and "<html" not in picked.text
    assert f'name="buyer_id" value="{other.id}"' in picked.text and "其他辖区" in picked.text
    by_tail = await issuer.client.post("/admin/pick/holders?field=buyer_id", data={"csrf": csrf, "buyer_id__q": "李秋"})
    assert by_tail.status_code == 200
    # without the session's CSRF token the POST is refused, as every back-office POST
    refused = await issuer.client.post("/admin/pick/holders?field=buyer_id", data={"buyer_id__q": number})
    assert refused.status_code == 403
    # without JavaScript the picker's button submits the (POST) form itself
    no_js = await issuer.post("/admin/trades/transfer", {"_pick": "buyer_id", "buyer_id__q": number})
    assert no_js.status_code in (200, 400) and f'value="{other.id}"' in no_js.text
    issuer.recorder.assert_clean(number)
