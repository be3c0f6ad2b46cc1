"""The payment receipt (收款凭证) behind an order's private link: what it prints (read back from the PDF), in
Chinese and English, refunded and demo orders, refusals (a stranger, an unpaid order), the links to it, and that
it is drawn off the event loop."""

from __future__ import annotations

import dataclasses
import re
import threading
from datetime import UTC, datetime

import httpx
import pytest

from factories import credit_code, resident_id
from factories import shop as factories
from kernel import clock
from kernel.settings import Settings
from linpiao.app import create_app
from planting.domain.rules import set_rule
from registry.models import Order, OrderStatus
from shop.limits import TRUSTED
from shop.orders import EventKind, OrderRequest, PaymentEvent, apply_event, create_order
from tests.certificates.conftest import pdf_text

OPERATOR = "银川市林业和草原局"
NOT_A_FISCAL_BILL = "不是财政票据。财政电子票据由财政部门开具"
NOT_A_FISCAL_BILL_EN = "itisnotafiscalbill.Thefiscale-bill(财政电子票据)isissuedbythefinancedepartment"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, operator=OPERATOR)


@pytest.fixture
async def client(settings: Settings, db: str):  # type: ignore[no-untyped-def]
    transport = httpx.ASGITransport(app=create_app(settings, manage_db=False))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


async def _order(
    settings: Settings, quantity: int, *, name: str = "银川某科技有限公司", provider: str = "demo"
) -> Order:
    order, _ = await create_order(
        settings,
        OrderRequest(quantity=quantity, purpose="travel", certificate_name=name),
        provider=provider,
        buyer=TRUSTED,
    )
    return order


async def _pay(order: Order, payload: dict[str, object] | None = None, event_type: str = "test.paid") -> Order:
    await apply_event(
        order.id,
        PaymentEvent(
            provider=order.provider,
            event_id=f"paid-{order.id}",
            kind=EventKind.PAID,
            amount_fen=int(order.amount_fen),
            payload=payload,
            event_type=event_type,
        ),
    )
    await order.refresh_from_db()
    return order


async def test_a_paid_order_prints_amount_capitals_serials_and_not_a_fiscal_bill(client, settings):
    batch = await factories.quota(200_000)
    moment = datetime(2026, 3, 9, 17, 30, 5, tzinfo=UTC)  # 01:30:05 on 10 March in Beijing
    with clock.use(clock.FixedClock(moment)):
        order = await _pay(await _order(settings, 12_345))
    response = await client.get(f"/orders/{order.token}/receipt.pdf")
    assert response.status_code == 200 and response.headers["content-type"] == "application/pdf"
    assert response.headers["cache-control"] == "private, no-store"
    text = pdf_text(response.content)
    assert "收款凭证" in text and "银川某科技有限公司" in text
    assert f"订单号{order.id}" in text
    assert "2026-03-1001:30:05（北京时间）" in text  # the Beijing date and time of payment
    assert "¥12,345.00" in text and "人民币壹万贰仟叁佰肆拾伍元整" in text
    assert f"{batch.serial_prefix}-00000001–{batch.serial_prefix}-00012345" in text
    assert "碳汇林票12,345张" in text
    assert "碳汇林票收入" in text and "收款单位财政部门" in text  # as the finance report names the body
    assert f"运营单位{OPERATOR}" in text
    assert NOT_A_FISCAL_BILL in text and NOT_A_FISCAL_BILL_EN in text  # in both languages
    assert "演示" in text and "没有真实收款" in text  # paid with the demo provider: said so
    assert "已退款" not in text


async def test_the_english_receipt(client, settings):
    await factories.quota(1000)
    order = await _pay(await _order(settings, 10))
    text = pdf_text((await client.get(f"/orders/{order.token}/receipt.pdf?lang=en")).content)
    assert "PaymentReceipt" in text and "Payer" in text and "(Beijingtime)" in text
    assert "Amount¥10.00" in text and "人民币壹拾元整" in text  # the capitals stay Chinese, as they are booked
    assert "ReceivingbodyFinancebureau(财政部门)" in text and "Carbon-ticketrevenue" in text
    assert NOT_A_FISCAL_BILL_EN in text and NOT_A_FISCAL_BILL in text
    await client.get("/?lang=zh_CN")


async def test_alipay_trade_numbers_are_printed(client, settings):
    await factories.quota(1000)
    order = await _order(settings, 5, provider="alipay")
    order.provider_ref = f"LP{order.id}A1"
    await order.save(update_fields=["provider_ref"])
    payload = {"out_trade_no": order.provider_ref, "trade_no": "2026030922001400001234567890"}
    order = await _pay(order, payload, "alipay.trade_success")
    text = pdf_text((await client.get(f"/orders/{order.token}/receipt.pdf")).content)
    assert "支付方式支付宝" in text
    assert "支付机构交易号2026030922001400001234567890" in text and f"商户订单号LP{order.id}A1" in text
    assert "没有真实收款" not in text


async def test_a_refunded_order_is_stamped_refunded_with_the_refund_time(client, settings):
    await factories.quota(1000)
    with clock.use(clock.FixedClock(datetime(2026, 3, 9, 17, 30, 5, tzinfo=UTC))):  # 01:30:05 on 10 March
        order = await _pay(await _order(settings, 10))
    refund = PaymentEvent("demo", f"refund-{order.id}", EventKind.REFUNDED, event_type="t.refund")
    with clock.use(clock.FixedClock(datetime(2026, 3, 12, 16, 5, 9, tzinfo=UTC))):  # 00:05:09 on 13 March in Beijing
        await apply_event(order.id, refund)
    assert (await Order.get(id=order.id)).status is OrderStatus.REFUNDED
    text = pdf_text((await client.get(f"/orders/{order.token}/receipt.pdf")).content)
    assert "已退款" in text and "REFUNDED" in text and "款项已全额退回付款人" in text
    assert "¥10.00" in text  # still the receipt of what was paid
    assert "付款时间2026-03-1001:30:05（北京时间）" in text
    assert "退款时间2026-03-1300:05:09（北京时间）" in text  # the refund's Beijing date, not the UTC one (12 March)
    english = pdf_text((await client.get(f"/orders/{order.token}/receipt.pdf?lang=en")).content)
    assert "Refundedat2026-03-1300:05:09(Beijingtime)" in english
    await client.get("/?lang=zh_CN")
    # a later event about the order does not move the refund's time; a paid order prints none
    with clock.use(clock.FixedClock(datetime(2026, 3, 20, 2, 0, tzinfo=UTC))):
        await apply_event(order.id, PaymentEvent("demo", f"late-{order.id}", EventKind.REFUNDED, event_type="t.late"))
    assert "退款时间2026-03-1300:05:09" in pdf_text((await client.get(f"/orders/{order.token}/receipt.pdf")).content)
    paid = await _pay(await _order(settings, 5))
    assert "退款时间" not in pdf_text((await client.get(f"/orders/{paid.token}/receipt.pdf")).content)


async def test_a_stranger_gets_404_and_an_unpaid_order_a_reason(client, settings):
    await factories.quota(1000)
    order = await _order(settings, 10)
    assert (await client.get("/orders/not-the-token/receipt.pdf")).status_code == 404
    assert (await client.get(f"/orders/{order.token[:-1]}x/receipt.pdf")).status_code == 404
    unpaid = await client.get(f"/orders/{order.token}/receipt.pdf")
    assert unpaid.status_code == 409 and "该订单尚未付款，没有收款凭证" in unpaid.text
    assert "text/html" in unpaid.headers["content-type"]
    page = await client.get(f"/orders/{order.token}")
    assert "/receipt.pdf" not in page.text  # nothing to download yet


async def test_the_order_page_links_the_receipt(client, settings):
    await factories.quota(1000)
    order = await _pay(await _order(settings, 10))
    page = await client.get(f"/orders/{order.token}")
    assert f'id="receipt-pdf" href="/orders/{order.token}/receipt.pdf"' in page.text


async def test_the_receipt_is_drawn_off_the_event_loop(client, settings, monkeypatch):
    import certificates.receipt as receipt_module

    threads: list[threading.Thread] = []
    real = receipt_module.render_receipt

    def watched(*args, **kwargs):  # type: ignore[no-untyped-def]
        threads.append(threading.current_thread())
        return real(*args, **kwargs)

    monkeypatch.setattr(receipt_module, "render_receipt", watched)
    await factories.quota(1000)
    order = await _pay(await _order(settings, 10))
    assert (await client.get(f"/orders/{order.token}/receipt.pdf")).status_code == 200
    assert len(threads) == 1 and threads[0] is not threading.main_thread()
    assert threads[0].name.startswith("linpiao-file")


# --- tree planting ------------------------------------------------------------------------------------------


@pytest.fixture
async def planting_on_sale(db):  # type: ignore[no-untyped-def]
    await factories.quota(100_000)
    return await set_rule(
        year=2026,
        tickets_per_tree=10,
        trees_per_duty=3,
        receiving_body="银川市绿化基金会",
        source="银川市绿化委员会办公室 2026 年第 1 号通知",
    )


async def _confirm_demo(client: httpx.AsyncClient, location: str) -> None:
    path = location.removeprefix("http://testserver")
    assert path.startswith("/pay/demo/")
    assert (await client.post(path, data={"action": "confirm"})).status_code == 303


async def test_an_organisation_gets_the_receipt_of_its_roster_payment(client, planting_on_sale):
    code = credit_code("640104")
    rows = "\r\n".join(["姓名,身份证号码,工号,植树株数", f"甲,{resident_id('640121', '19800101', seq=11)},E1,"])
    form = {
        "organisation_name": "银川市某局",
        "credit_code": code,
        "contact": "王科长",
        "year": "2026",
        "id_consent": "1",
    }
    uploaded = await client.post(
        "/planting/org", data=form, files={"roster": ("名单.csv", rows.encode("utf-8-sig"), "text/csv")}
    )
    assert uploaded.status_code == 303, uploaded.text
    manage_url = uploaded.headers["location"]
    pay = await client.post(f"{manage_url}/pay")
    await _confirm_demo(client, pay.headers["location"])
    manage = await client.get(manage_url)
    link = re.search(r'class="receipt-pdf" href="(/orders/[^"]+/receipt\.pdf)"', manage.text)
    assert link, "the organisation page links each paid payment's receipt"
    text = pdf_text((await client.get(link.group(1))).content)
    assert "付款人银川市某局" in text and f"统一社会信用代码{code}" in text
    assert "义务植树尽责捐资" in text and "收款单位银川市绿化基金会" in text  # the rule's receiving body
    assert "¥30.00" in text and "人民币叁拾元整" in text
    assert NOT_A_FISCAL_BILL in text


async def test_a_citizen_planting_order_links_its_receipt(client, planting_on_sale):
    form = {"year": "2026", "trees": "3", "name": "张三", "declared": "owes"}
    response = await client.post("/planting", data=form)
    assert response.status_code == 303, response.text
    await _confirm_demo(client, response.headers["location"])
    order = await Order.get(purpose="planting")
    page = await client.get(f"/planting/orders/{order.token}")
    assert f'href="/orders/{order.token}/receipt.pdf"' in page.text
    text = pdf_text((await client.get(f"/orders/{order.token}/receipt.pdf")).content)
    assert "付款人张三" in text and "收款单位银川市绿化基金会" in text and "人民币叁拾元整" in text
