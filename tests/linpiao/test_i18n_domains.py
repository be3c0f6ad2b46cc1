"""One translation domain per package: the back-office's wording of a phrase never replaces the shop's.

批次 is "Batch" in the shop's catalog and "Batches" in the back-office's; each package's pages and code read their
own catalog first, then the shared kernel's (``kernel``) and the register's (its refusals' messages).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir

import admin.i18n
import certificates.i18n
import shop.i18n
from kernel import i18n
from registry.access import NotPermitted
from registry.errors import InsufficientUnits
from registry.models import StaffRole
from shop.errors import AboveOrderLimit
from tests.admin.conftest import login, make_staff

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def english():  # type: ignore[no-untyped-def]
    token = i18n.current_locale.set("en")
    yield
    i18n.current_locale.reset(token)


def _cell(html: str, text: str) -> bool:
    """``text`` is the whole of a table heading on the page."""
    return re.search(rf"<th[^>]*>{re.escape(text)}</th>", html) is not None


@pytest.mark.usefixtures("english")
def test_each_package_reads_its_own_wording_first():
    assert shop.i18n.gettext("订单") == "Order"
    assert admin.i18n.gettext("订单") == "Orders"
    assert shop.i18n.gettext("批次") == "Batch"
    assert admin.i18n.gettext("批次") == "Batches"
    assert certificates.i18n.gettext("持有人") == "Holder"
    assert admin.i18n.gettext("持有人") == "Holders"
    # what a package does not word itself comes from the shared kernel's catalog, then the register's
    assert shop.i18n.gettext("页面不存在") == admin.i18n.gettext("页面不存在") == "Page not found"
    assert admin.i18n.gettext(NotPermitted.message) != NotPermitted.message
    assert shop.i18n.gettext(NotPermitted.message) == admin.i18n.gettext(NotPermitted.message)


@pytest.mark.usefixtures("english")
def test_a_refusal_reads_in_the_domain_of_the_package_that_raises_it():
    from linpiao.errors import refusal_text

    assert refusal_text(InsufficientUnits()) == "Not enough tickets available"
    limited = refusal_text(AboveOrderLimit(maximum=200, left=10_000, share="2%", floor=20, quantity=250))
    assert limited.startswith("One order may have at most 200 tickets")
    assert "单笔订单" not in limited  # the shop's limits are in the shop's catalog, not the shared one


async def test_the_shop_and_the_back_office_word_a_phrase_their_own_way_on_their_pages(app, client):
    shop_page = await client.get("/impact?lang=en")
    assert shop_page.status_code == 200
    assert _cell(shop_page.text, "Batch") and not _cell(shop_page.text, "Batches")

    await make_staff(StaffRole.FORESTRY, "domains-forestry")
    assert (await login(client, "domains-forestry")).status_code == 303
    dashboard = await client.get("/admin/?lang=en")
    assert dashboard.status_code == 200
    assert _cell(dashboard.text, "Batches") and not _cell(dashboard.text, "Batch")


def test_every_string_a_package_marks_has_english_in_its_own_domain():
    """Each package's code and templates find their English in their own domain (its catalog, then the shared
    ones), never only in another package's catalog."""
    methods = [("**/migrations/**", "ignore"), ("**.py", "python"), ("**/templates/**.html", "jinja2")]
    options = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    missing = []
    # planting's pages read planting's catalog over the face they stand in (planting.shop, planting.admin)
    folders = {
        "kernel": "kernel",
        "linpiao": "linpiao",
        "shop": "shop",
        "admin": "admin",
        "certificates": "certificates",
    }
    folders |= {"planting/domain": "planting", "planting/shop": "planting.shop", "planting/admin": "planting.admin"}
    folders |= {"planting/templates/shop": "planting.shop", "planting/templates/admin": "planting.admin"}
    for package, domain in folders.items():
        catalog = i18n.translations("en", domain)
        for filename, lineno, message, *_rest in extract_from_dir(str(ROOT / package), methods, options):
            msgid = message if isinstance(message, str) else message[0]
            if msgid and catalog.gettext(msgid) == msgid:
                missing.append(f"{package}/{filename}:{lineno}: {msgid}")
    assert missing == []


def test_planting_pages_read_planting_then_the_face_they_stand_in():
    """Planting's shop pages extend the shop's layout and its back-office page the back-office's: each reads
    planting's catalog first, then the face's, so the layout keeps the face's wording."""
    assert i18n.lookup_order("planting.shop") == ("planting", "shop", "kernel", "registry")
    shop_pages, admin_page = i18n.translations("en", "planting.shop"), i18n.translations("en", "planting.admin")
    assert shop_pages.gettext("尽责情况报告") == "Fulfilment report"  # planting's own
    assert i18n.translations("en", "shop").gettext("尽责情况报告") == "尽责情况报告"  # not the shop's
    assert shop_pages.gettext("订单") == "Order" and admin_page.gettext("订单") == "Orders"  # each face's
