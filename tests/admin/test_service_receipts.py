"""The service desk prints an order's payment receipt (收款凭证) for a buyer who asks: who may (registry/access.py,
``order.receipt``), what it prints, and the reason when the order has none."""

from __future__ import annotations

import pytest

from factories import shop as factories
from registry import access
from registry.models import StaffRole
from shop.limits import TRUSTED
from shop.orders import OrderRequest, create_order
from tests.admin.conftest import make_staff
from tests.certificates.conftest import pdf_text
from tests.desk import paid_order


@pytest.mark.parametrize(
    ("role", "district"), [(StaffRole.FORESTRY, None), (StaffRole.FINANCE, None), (StaffRole.AUDITOR, None)]
)
async def test_the_desk_downloads_a_paid_orders_receipt(sign_in, settings, role, district):
    await factories.quota(1000)
    order = await paid_order(settings, 12, name="银川某科技有限公司")
    clerk = await sign_in(role, f"receipt-{role}", district)
    page = await clerk.get(f"/admin/service/orders/{order.id}")
    assert f'href="/admin/service/orders/{order.id}/receipt.pdf"' in page.text
    response = await clerk.get(f"/admin/service/orders/{order.id}/receipt.pdf")
    assert response.status_code == 200 and response.headers["content-type"] == "application/pdf"
    text = pdf_text(response.content)
    assert "收款凭证" in text and "银川某科技有限公司" in text and "¥12.00" in text and "人民币壹拾贰元整" in text
    assert "不是财政票据" in text
    english = pdf_text((await clerk.get(f"/admin/service/orders/{order.id}/receipt.pdf?lang=en")).content)
    assert "PaymentReceipt" in english and "Amount¥12.00" in english


@pytest.mark.parametrize(
    ("role", "district"),
    [
        (StaffRole.ISSUER, "640104"),
        (StaffRole.LANDSCAPING, None),
        (StaffRole.ADMIN, None),
        (StaffRole.FORESTRY, "640105"),
    ],
)
async def test_who_may_not_print_it(sign_in, settings, role, district):
    await factories.quota(1000)
    order = await paid_order(settings, 10)
    staff = await sign_in(role, f"receipt-{role}", district)
    assert (await staff.get(f"/admin/service/orders/{order.id}/receipt.pdf")).status_code == 403


async def test_the_rules_table_decides_who_prints_receipts(db):
    allowed = {
        (StaffRole.FORESTRY, None): True,
        (StaffRole.FINANCE, None): True,
        (StaffRole.AUDITOR, None): True,
        (StaffRole.FORESTRY, "640105"): False,  # a district's forestry department does not serve the city's shop
        (StaffRole.ISSUER, "640104"): False,
        (StaffRole.GREENING, "640105"): False,
    }
    for (role, district), expected in allowed.items():
        staff = await make_staff(role, f"rule-{role}-{district}", district)
        assert access.may(staff, access.Action.ORDER_RECEIPT) is expected, (role, district)


async def test_an_unpaid_order_has_no_receipt_and_the_page_says_why(sign_in, settings):
    await factories.quota(1000)
    order, _ = await create_order(
        settings, OrderRequest(quantity=10, purpose="travel", certificate_name="张三"), provider="demo", buyer=TRUSTED
    )
    clerk = await sign_in(StaffRole.FORESTRY, "receipt-forestry")
    page = await clerk.get(f"/admin/service/orders/{order.id}")
    assert "/receipt.pdf" not in page.text
    refused = await clerk.get(f"/admin/service/orders/{order.id}/receipt.pdf")
    assert refused.status_code == 409 and "该订单尚未付款，没有收款凭证" in refused.text
