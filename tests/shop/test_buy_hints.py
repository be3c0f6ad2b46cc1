"""The buy page on a phone: a total, or the reason there is none (never ¥0.00); what this buyer may still order."""

from __future__ import annotations

import re

from factories import shop as factories
from shop.limits import Buyer


def total_line(html: str) -> str:
    match = re.search(r'<p class="total" id="total-line"[^>]*>.*?</p>', html, re.S)
    assert match
    return match.group(0)


def hint(html: str) -> str:
    match = re.search(r'<p class="total-hint" id="total-hint"[^>]*>(.*?)</p>', html, re.S)
    assert match
    return match.group(1)


async def test_a_valid_quantity_shows_its_total_and_no_hint(client):
    await factories.quota(1000)
    page = await client.get("/buy?quantity=50")
    assert "hidden" not in total_line(page.text) and 'id="total">¥50.00<' in page.text
    assert hint(page.text) == ""


async def test_an_invalid_quantity_shows_why_instead_of_zero(client):
    await factories.quota(1000)
    cases = {
        "abc": "请输入整数张数，合计才会显示。",
        "0": "请输入整数张数，合计才会显示。",
        "2.5": "请输入整数张数，合计才会显示。",
        "2": "最少 5 张（¥5.00）：支付机构不受理过小的金额。",
        "201": "单笔最多 200 张。",  # 1 % of 1,000 left, never under the floor of 200
        "99999999999": "请输入整数张数，合计才会显示。",
    }
    for typed, reason in cases.items():
        page = await client.get("/buy", params={"quantity": typed})
        assert "¥0.00" not in page.text, typed
        assert " hidden>" in total_line(page.text), typed
        assert hint(page.text) == reason, typed
    english = await client.get("/buy", params={"quantity": "abc", "lang": "en"})
    assert hint(english.text) == "Enter a whole number of tickets to see the total."
    # buy.js gets the same messages, in the page's language
    assert 'data-msg-min="At least 5 tickets (¥5.00): payment providers refuse very small amounts."' in english.text


async def test_what_this_address_may_still_order_is_stated(client, settings):
    await factories.quota(1000)
    page = await client.get("/buy")
    assert "您现在最多可下单 200 张（本网络地址已有 0 笔未付款订单、预留 0 张）。" in page.text
    here = Buyer.at_address("127.0.0.1")  # the test client's address
    for _ in range(2):
        await factories.order(settings, 150, buyer=here)
    page = await client.get("/buy?quantity=100")
    # 2 unpaid orders hold 300 of at most 2,000; the order maximum is 1 % of the 700 left, floor 200
    assert "您现在最多可下单 200 张（本网络地址已有 2 笔未付款订单、预留 300 张）。" in page.text
    for _ in range(3):
        await factories.order(settings, 5, buyer=here)
    page = await client.get("/buy?quantity=10")
    assert "本网络地址的未付款订单已达上限（5 笔、315 张）" in page.text
    assert hint(page.text) == "您现在最多还可下单 0 张（见下方限购说明）。"
    other = await client.get("/buy?quantity=10", headers={"x-forwarded-for": "203.0.113.9"})
    assert "已达上限（5 笔、315 张）" in other.text  # a forwarded header is not believed from an untrusted peer


async def test_the_error_page_links_home_with_a_button(client):
    page = await client.get("/no-such-page")
    assert page.status_code == 404
    assert '<a class="button secondary" href="/" id="error-home">首页</a>' in page.text
