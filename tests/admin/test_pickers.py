"""Pickers (admin/pickers.py) and preview-then-confirm (admin/preview.py) on the back-office forms: a clerk finds
holders and parcels by name, the last digits of an identifier or a district, sees only what registry.access lets
it read, submits the picked record; without JavaScript the picker's button searches; a transfer or subscription is
previewed without writing anything, then confirmed once."""

from __future__ import annotations

import re
from decimal import Decimal

from certificates import service as certificate_service
from factories import id_of, make_holder, make_parcel
from registry import quotas, register
from registry.models import HolderKind, StaffRole, TicketKind
from registry.trades import Trade
from tests.admin.test_permissions import snapshot
from tests.admin.test_trades_pages import form_token

ISS, F, N = StaffRole.ISSUER, StaffRole.FORESTRY, StaffRole.FINANCE


def picked_ids(html: str, field: str) -> set[int]:
    return {int(n) for n in re.findall(rf'type="radio" name="{field}" value="(\d+)"', html)}


async def _batch():  # type: ignore[no-untyped-def]
    village = await make_holder("春林村股份经济合作社", kind=HolderKind.VILLAGE_COLLECTIVE)
    batch = await register.issue_batch(
        kind=TicketKind.COLLECTIVE,
        holder=village,
        total_units=1000,
        serial_prefix="YC-JT-640104-2026-009",
        parcel=await make_parcel("640104"),
        unit_area_m2=Decimal("100"),
        district_code="640104",
    )
    await certificate_service.issue_holding_certificate(batch, village)
    return batch, village


async def test_the_holder_picker_finds_by_name_id_tail_and_district_within_the_clerks_reach(sign_in):
    mine = await make_holder("李秋菊", region="640104")
    other = await make_holder("李秋生", region="640122")  # lives in 贺兰县: not the 兴庆区 issuer's
    issuer = await sign_in(ISS, "picker-issuer", "640104")
    url = "/admin/pick/holders?field=buyer_id&buyer_id__q="
    by_name = await issuer.get(url + "李秋")
    assert by_name.status_code == 200 and "<html" not in by_name.text  # a fragment for htmx
    assert picked_ids(by_name.text, "buyer_id") == {mine.id}
    assert "李秋生" not in by_name.text
    # a person's ID number is stored encrypted: found by its last four characters, or whole by its blind index
    assert mine.id_number is None and other.id_number is None
    assert picked_ids((await issuer.get(url + id_of(mine)[-4:])).text, "buyer_id") == {mine.id}
    assert picked_ids((await issuer.get(url + id_of(mine)[-4:].lower())).text, "buyer_id") == {mine.id}
    assert picked_ids((await issuer.get(url + id_of(other)[-4:])).text, "buyer_id") == set()
    assert mine.id in picked_ids((await issuer.get(url + "兴庆")).text, "buyer_id")
    # another district's holder only by its full identifier (the other party of a trade), marked as such
    full = await issuer.get(url + id_of(other))
    assert picked_ids(full.text, "buyer_id") == {other.id} and "其他辖区" in full.text
    # the city forestry department reads every holder; finance does not open the holders at all
    forestry = await sign_in(F, "picker-forestry")
    assert picked_ids((await forestry.get(url + "李秋")).text, "buyer_id") == {mine.id, other.id}
    finance = await sign_in(N, "picker-finance")
    assert (await finance.get(url + "李秋")).status_code == 403
    assert (await issuer.get("/admin/pick/holders?field=a%22b&q=x")).status_code == 404


async def test_the_parcel_picker_keeps_to_the_clerks_district(sign_in):
    mine, theirs = await make_parcel("640104"), await make_parcel("640122")
    issuer = await sign_in(ISS, "picker-parcels", "640104")
    found = await issuer.get("/admin/pick/parcels?field=parcel_id&parcel_id__q=春林")
    assert picked_ids(found.text, "parcel_id") == {mine.id} and theirs.id not in picked_ids(found.text, "parcel_id")
    form = await issuer.get("/admin/applications/new")
    assert 'hx-post="/admin/pick/parcels?field=parcel_id' in form.text and 'name="applicant_id__q"' in form.text


async def test_a_transfer_is_recorded_with_picked_holders_after_a_preview_that_writes_nothing(sign_in):
    batch, village = await _batch()
    buyer = await make_holder("王小梅", region="640104")
    issuer = await sign_in(ISS, "picker-transfer", "640104")
    form = await issuer.get("/admin/trades/transfer/new")
    assert 'hx-post="/admin/pick/holders?field=buyer_id' in form.text and "/static/vendor/htmx/htmx.min.js" in form.text
    seller_pick = await issuer.get("/admin/pick/holders?field=seller_id&seller_id__q=春林村")
    buyer_pick = await issuer.get("/admin/pick/holders?field=buyer_id&buyer_id__q=王小梅")
    (seller_id,), (buyer_id,) = picked_ids(seller_pick.text, "seller_id"), picked_ids(buyer_pick.text, "buyer_id")
    assert (seller_id, buyer_id) == (village.id, buyer.id)
    data = {
        "batch_id": str(batch.id),
        "seller_id": str(seller_id),
        "buyer_id": str(buyer_id),
        "quantity": "120",
        "price": "3600.50",
        "form_token": form_token(form.text),
    }
    before = await snapshot()
    preview = await issuer.post("/admin/trades/transfer", {**data, "step": "preview"})
    assert preview.status_code == 200, preview.text
    assert "YC-JT-640104-2026-009-00000001" in preview.text and "王小梅" in preview.text
    assert "¥3,600.50" in preview.text and 'value="confirm"' in preview.text
    assert await snapshot() == before  # the rehearsal was rolled back: no trade, entry, token or audit line
    confirmed = await issuer.post("/admin/trades/transfer", {**data, "step": "confirm"})
    assert confirmed.status_code == 303, confirmed.text
    again = await issuer.post("/admin/trades/transfer", {**data, "step": "confirm"})
    assert again.status_code == 303 and again.headers["location"] == confirmed.headers["location"]
    assert await Trade.all().count() == 1 and await register.holder_total(buyer, batch=batch) == 120


async def test_a_refused_preview_shows_the_form_with_the_reason(sign_in):
    batch, village = await _batch()
    buyer = await make_holder("赵小满", region="640104")
    issuer = await sign_in(ISS, "picker-refused", "640104")
    form = await issuer.get("/admin/trades/transfer/new")
    data = {"batch_id": str(batch.id), "seller_id": str(village.id), "buyer_id": str(buyer.id), "price": "1"}
    before = await snapshot()
    refused = await issuer.post(
        "/admin/trades/transfer", {**data, "quantity": "5000", "form_token": form_token(form.text), "step": "preview"}
    )
    assert refused.status_code in (400, 409) and 'class="errors"' in refused.text
    assert await snapshot() == before


async def test_without_javascript_the_picker_button_searches_and_records_nothing(sign_in):
    batch, village = await _batch()
    buyer = await make_holder("孙大林", region="640104")
    issuer = await sign_in(ISS, "picker-nojs", "640104")
    form = await issuer.get("/admin/trades/transfer/new")
    assert 'name="_pick" value="buyer_id"' in form.text  # the plain search button of each picker
    data = {"batch_id": str(batch.id), "seller_id": str(village.id), "quantity": "10", "price": "100"}
    before = await snapshot()
    searched = await issuer.post(
        "/admin/trades/transfer",
        {**data, "buyer_id__q": "孙大林", "_pick": "buyer_id", "form_token": form_token(form.text)},
    )
    assert searched.status_code == 200 and 'class="errors"' not in searched.text
    assert picked_ids(searched.text, "buyer_id") == {buyer.id}
    assert f'name="seller_id" value="{village.id}" checked' in searched.text  # the earlier choice is kept
    assert 'name="buyer_id__q" value="孙大林"' in searched.text
    assert await snapshot() == before
    # the form sent again with the found holder chosen (a single result comes checked) records the transfer
    token = form_token(searched.text)
    preview = await issuer.post(
        "/admin/trades/transfer", {**data, "buyer_id": str(buyer.id), "form_token": token, "step": "preview"}
    )
    assert preview.status_code == 200 and "孙大林" in preview.text
    done = await issuer.post(
        "/admin/trades/transfer", {**data, "buyer_id": str(buyer.id), "form_token": token, "step": "confirm"}
    )
    assert done.status_code == 303 and await register.holder_total(buyer, batch=batch) == 10


async def test_closing_a_quota_is_previewed_then_confirmed_once(sign_in):
    forestry = await sign_in(F, "quota-preview")
    quota = await quotas.open_quota(units=1000)
    listed = await forestry.get("/admin/quotas")
    assert f'action="/admin/quotas/{quota.id}/close"' in listed.text and 'name="step" value="preview"' in listed.text
    before = await snapshot()
    preview = await forestry.post(f"/admin/quotas/{quota.id}/close", {"step": "preview"})
    assert preview.status_code == 200 and 'data-testid="preview-unsold">1,000<' in preview.text
    assert await snapshot() == before  # still open, no audit line
    confirmed = await forestry.post(f"/admin/quotas/{quota.id}/close", {"step": "confirm"})
    assert confirmed.status_code == 303
    await quota.refresh_from_db()
    assert not quota.is_open and quota.closed_at is not None
    after = await snapshot()
    again = await forestry.post(f"/admin/quotas/{quota.id}/close", {"step": "confirm"})
    assert again.status_code == 400 and await snapshot() == after  # a second confirm changes nothing
    # a preview of what may not be closed is refused like the close itself
    assert (await forestry.post(f"/admin/quotas/{quota.id}/close", {"step": "preview"})).status_code == 400


async def test_the_holders_list_sorts_by_its_columns(sign_in):
    names = ["林场C", "林场A", "林场D", "林场B"]
    for name in names:
        await make_holder(name, region="640104")
    issuer = await sign_in(ISS, "holders-sort", "640104")

    def listed(html: str) -> list[str]:
        return [n for n in re.findall(r'href="/admin/holders/\d+">([^<]+)</a>', html) if n in names]

    ascending = await issuer.get("/admin/holders?q=林&sort=name")
    descending = await issuer.get("/admin/holders?q=林&sort=-name")
    assert listed(ascending.text) == sorted(names) and listed(descending.text) == sorted(names, reverse=True)
    assert 'aria-sort="ascending"' in ascending.text and "sort=-name" in ascending.text  # the header flips it
    newest = await issuer.get("/admin/holders?q=林&sort=-created")
    assert listed(newest.text) == list(reversed(names))
    assert listed((await issuer.get("/admin/holders?q=林&sort=bogus")).text) == sorted(names)  # unknown: by name


async def test_the_batch_picker_offers_only_batches_the_account_may_use_for_the_form(sign_in):
    batch, _village = await _batch()
    issuer = await sign_in(ISS, "picker-batches", "640104")
    helan = await sign_in(ISS, "picker-batches-helan", "640122")
    url = "/admin/pick/batches?field=batch_id&action=transfer&batch_id__q=YC-JT-640104"
    assert picked_ids((await issuer.get(url)).text, "batch_id") == {batch.id}
    assert picked_ids((await helan.get(url)).text, "batch_id") == set()  # another district's batch
    form = await issuer.get("/admin/trades/transfer/new")  # nothing typed yet: the newest usable batches
    assert picked_ids(form.text, "batch_id") == {batch.id}
    assert picked_ids((await helan.get("/admin/trades/transfer/new")).text, "batch_id") == set()
