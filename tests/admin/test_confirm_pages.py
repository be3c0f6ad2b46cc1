"""Preview, then confirm (admin/preview.py) for issuing, quota withdrawal, dividends, inheritance, green-land offsets
and ecological compensation: the preview shows what will happen and writes nothing; the confirm does it once; the
same confirm sent twice does it once; the register changed between preview and confirm is judged as it is then; a
POST without ``step`` is a preview, never the action."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

from factories import make_holder
from kernel import clock
from registry import applications as apps
from registry import dividends, notices, offsets, quotas, register
from registry.audit import Actor
from registry.idempotency import new_form_token
from registry.models import AuditLog, Batch, HolderKind, RegisterEntry, StaffRole
from registry.trades import InheritanceCase, TradeFiling, TradeStatus, record_transfer
from tests.admin.conftest import confirm_step, make_staff, village_with_parcel
from tests.admin.test_permissions import snapshot
from tests.admin.test_trades_pages import TODAY, _collective, _state, form_token

ISS, F, G, L = StaffRole.ISSUER, StaffRole.FORESTRY, StaffRole.GREENING, StaffRole.LANDSCAPING


def shown_in(html: str, name: str) -> str:
    match = re.search(rf'data-testid="{name}"[^>]*>(.*?)</', html, re.S)
    assert match, f"no {name} on the page"
    return match.group(1).strip()


async def _previewed_then_confirmed(staff, url: str, data: dict[str, str], *, shown: list[str], token: bool = True):  # type: ignore[no-untyped-def]
    """Preview (nothing written, ``shown`` on the page), confirm with the page's own token, confirm again: the
    second confirm lands where the first did and writes nothing more. Returns the first confirm's answer.
    ``token=False``: an action made idempotent by its record's state (a filing), whose confirm carries none."""
    before = await snapshot()
    preview = await staff.post(url, {**data, "step": "preview"})
    assert preview.status_code == 200, preview.text
    for text in shown:
        assert text in preview.text, text
    assert 'name="step" value="confirm"' in preview.text
    assert await snapshot() == before  # the rehearsal was rolled back: no entry, record, token or audit line
    token_value = form_token(preview.text) if token else ""
    hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', preview.text))
    hidden.pop("csrf", None)
    confirm = {**hidden, "form_token": token_value, "step": "confirm"}
    done = await staff.post(url, confirm)
    assert done.status_code == 303, done.text
    after = await snapshot()
    again = await staff.post(url, confirm)
    assert again.status_code == 303 and again.headers["location"] == done.headers["location"]
    assert await snapshot() == after  # the double submit recorded nothing more
    return done


async def _approved_application(issuer_user):  # type: ignore[no-untyped-def]
    village, parcel = await village_with_parcel("640104", "150")
    actor = Actor(issuer_user, "")
    application = await apps.submit_application(kind="collective", parcel=parcel, applicant=village, actor=actor)
    await apps.approve_application(application, actor=actor)
    with clock.use(clock.FixedClock(clock.now() - timedelta(days=10))):  # its notice closed without objection
        await notices.publish_issuance_notice(application, actor=actor)
    return application, village


async def test_issuing_shows_the_units_from_the_area_the_serials_and_who_receives_then_issues_once(sign_in):
    issuer = await sign_in(ISS, "confirm-issuer", "640104")
    application, village = await _approved_application(issuer.user)
    url = f"/admin/applications/{application.id}"
    page = await issuer.get(url)
    assert 'name="step" value="preview"' in page.text and f'action="{url}/issue"' in page.text
    done = await _previewed_then_confirmed(
        issuer,
        url + "/issue",
        {"unit_area_m2": "100", "form_token": form_token(page.text)},
        shown=["1,000", "YC-JT-640104-2026-001-00000001", "YC-JT-640104-2026-001-00001000", village.name, "100,000"],
    )
    assert done.headers["location"] == url
    batch = await Batch.get()
    assert batch.total_units == 1000 and await register.holder_total(village, batch=batch) == 1000
    assert await RegisterEntry.filter(batch_id=batch.id).count() == 1


async def test_a_post_without_step_is_a_preview_and_a_confirm_without_its_token_is_refused(sign_in):
    issuer = await sign_in(ISS, "confirm-nostep", "640104")
    application, _village = await _approved_application(issuer.user)
    url = f"/admin/applications/{application.id}/issue"
    before = await snapshot()
    plain = await issuer.post(url, {"unit_area_m2": "100"})  # what a one-click form or an old script sends
    assert plain.status_code == 200 and 'data-testid="issue-preview"' in plain.text
    tokenless = await issuer.post(url, {"unit_area_m2": "100", "step": "confirm"})
    assert tokenless.status_code == 400 and "表单已失效" in tokenless.text
    assert await snapshot() == before
    scripted = await issuer.post(url, {"unit_area_m2": "100", "step": "confirm", "form_token": new_form_token()})
    assert scripted.status_code == 303 and await Batch.all().count() == 1  # a script confirms with a token


async def test_an_application_returned_after_its_preview_is_not_issued(sign_in):
    issuer = await sign_in(ISS, "confirm-returned", "640104")
    application, _village = await _approved_application(issuer.user)
    url = f"/admin/applications/{application.id}/issue"
    # a unit area that does not divide the parcel is refused at the preview already, with the reason
    assert "单位面积必须能整除林地面积" in (await issuer.post(url, {"unit_area_m2": "333"})).text
    preview = await issuer.post(url, {"unit_area_m2": "100", "step": "preview"})
    assert preview.status_code == 200
    await apps.return_application(application, actor=Actor(issuer.user, ""), reason="四至有误")
    refused = await issuer.post(url, {"unit_area_m2": "100", "step": "confirm", "form_token": form_token(preview.text)})
    assert refused.status_code == 409 or refused.status_code == 400
    assert "当前状态不允许该操作" in refused.text and await Batch.all().count() == 0


async def test_withdrawing_a_quotas_unsold_tickets_is_previewed_then_done_once(sign_in):
    forestry = await sign_in(F, "confirm-withdraw")
    quota = await quotas.open_quota(units=1000)
    listed = await forestry.get("/admin/quotas")
    assert f'action="/admin/quotas/{quota.id}/withdraw"' in listed.text
    prefix = quota.serial_prefix
    await _previewed_then_confirmed(
        forestry,
        f"/admin/quotas/{quota.id}/withdraw",
        {"reason": "年度结束"},
        shown=["1,000", f"{prefix}-00000001", f"{prefix}-00001000"],
    )
    entries = await RegisterEntry.filter(batch_id=quota.id, kind="withdrawal")
    assert [int(e.quantity) for e in entries] == [1000]


async def test_a_withdrawal_whose_stock_is_gone_by_the_confirm_is_refused(sign_in):
    forestry = await sign_in(F, "confirm-withdraw-gone")
    quota = await quotas.open_quota(units=500)
    url = f"/admin/quotas/{quota.id}/withdraw"
    preview = await forestry.post(url, {"reason": "unsold", "step": "preview"})
    assert preview.status_code == 200 and shown_in(preview.text, "preview-units") == "500"
    await quotas.withdraw_unsold(quota, actor=Actor(forestry.user, ""), reason="另一位职员")  # meanwhile
    refused = await forestry.post(url, {"reason": "unsold", "step": "confirm", "form_token": form_token(preview.text)})
    assert refused.status_code in (400, 409) and "可用林票数量不足" in refused.text
    assert await RegisterEntry.filter(batch_id=quota.id, kind="withdrawal").count() == 1


async def test_a_dividend_shows_each_holders_part_then_is_recorded_once_on_the_register_of_the_confirm(sign_in):
    batch, village = await _collective(units=100)
    buyer = await make_holder("王二")
    issuer = await sign_in(ISS, "confirm-dividend", "640104")
    await record_transfer(batch=batch, seller=village, buyer=buyer, quantity=40, price_fen=0, actor=Actor(issuer.user))
    form = await issuer.get("/admin/dividends/new")
    data = {"batch_id": str(batch.id), "income": "12345.67", "record_date": TODAY, "source": "经营收入"}
    data["form_token"] = form_token(form.text)
    await _previewed_then_confirmed(
        issuer, "/admin/dividends", data, shown=["¥12,345.67", "¥7,407.40", "¥4,938.27", "王二", "60.0000%"]
    )
    back = await issuer.post("/admin/dividends", {**data, "step": "edit"})  # 返回修改: the form as it was typed
    assert back.status_code == 200 and 'value="12345.67"' in back.text and 'value="经营收入"' in back.text
    dividend = await dividends.Dividend.get()
    parts = {s.holder_id: int(s.amount_fen) for s in await dividends.DividendShare.filter(dividend_id=dividend.id)}
    assert parts == {village.id: 740_740, buyer.id: 493_827}

    # the world moves between preview and confirm: the confirm splits over the holders of the register then
    fresh = form_token((await issuer.get("/admin/dividends/new")).text)
    second = {**data, "income": "100", "form_token": fresh}
    preview = await issuer.post("/admin/dividends", {**second, "step": "preview"})
    assert "¥60.00" in preview.text and "¥40.00" in preview.text
    await record_transfer(batch=batch, seller=village, buyer=buyer, quantity=60, price_fen=0, actor=Actor(issuer.user))
    done = await issuer.post("/admin/dividends", {**second, "step": "confirm"})
    assert done.status_code == 303
    latest = await dividends.Dividend.filter().order_by("-id").first()
    assert latest is not None
    shares = await dividends.DividendShare.filter(dividend_id=latest.id)
    assert {s.holder_id: int(s.amount_fen) for s in shares} == {buyer.id: 10_000}


async def test_a_dividend_payment_shows_the_table_of_parts_then_is_recorded_once(sign_in):
    batch, village = await _collective(units=100)
    buyer = await make_holder("王二")
    issuer = await sign_in(ISS, "confirm-dividend-pay", "640104")
    actor = Actor(issuer.user)
    await record_transfer(batch=batch, seller=village, buyer=buyer, quantity=40, price_fen=0, actor=actor)
    dividend = await dividends.record_dividend(
        batch=batch, income_fen=1_234_567, record_date=clock.today(), source="经营收入", actor=actor
    )
    with clock.use(clock.FixedClock(clock.now() - timedelta(days=10))):  # its notice closed without objection
        notice = await notices.publish_dividend_notice(dividend, actor=actor)
    url = f"/admin/notices/{notice.id}"
    page = await issuer.get(url)
    assert 'name="step" value="preview"' in page.text and f'action="{url}/pay"' in page.text
    parts = {s.holder_id: int(s.amount_fen) for s in await dividends.DividendShare.filter(dividend_id=dividend.id)}
    assert parts == {village.id: 740_740, buyer.id: 493_827} and sum(parts.values()) == 1_234_567  # whole fen
    done = await _previewed_then_confirmed(
        issuer,
        url + "/pay",
        {"payment_ref": "银行代发20260101"},
        shown=["¥12,345.67", "¥7,407.40", "¥4,938.27", "王二", village.name, "60.0000%", "银行代发20260101"],
    )
    assert done.headers["location"] == url
    await notice.refresh_from_db()
    assert notice.paid_at is not None and notice.payment_ref == "银行代发20260101"
    assert await AuditLog.filter(action="dividend.pay").count() == 1
    # a fresh preview of a paid dividend is refused, and so is another confirm: it is paid once
    again = await issuer.post(url + "/pay", {"payment_ref": "又一次", "step": "preview"})
    assert again.status_code in (400, 409) and 'data-testid="dividend-pay-preview"' not in again.text
    other = await issuer.post(url + "/pay", {"payment_ref": "又一次", **confirm_step()})
    assert other.status_code in (400, 409)
    await notice.refresh_from_db()
    assert notice.payment_ref == "银行代发20260101" and await AuditLog.filter(action="dividend.pay").count() == 1


async def test_a_dividend_payment_whose_notice_got_an_objection_meanwhile_is_refused(sign_in):
    batch, _village = await _collective(units=100)
    issuer = await sign_in(ISS, "confirm-dividend-objection", "640104")
    actor = Actor(issuer.user)
    dividend = await dividends.record_dividend(
        batch=batch, income_fen=10_000, record_date=clock.today(), source="经营收入", actor=actor
    )
    with clock.use(clock.FixedClock(clock.now() - timedelta(days=7, hours=12))):
        notice = await notices.publish_dividend_notice(dividend, actor=actor)
        await notices.record_objection(notice, received_on=clock.today(), summary="二组称份额有误", actor=actor)
    url = f"/admin/notices/{notice.id}/pay"
    refused = await issuer.post(url, {"payment_ref": "代发1", "step": "preview"})
    assert refused.status_code in (400, 409)  # an objection not yet settled: no preview to confirm
    objection = await notices.NoticeObjection.get(notice_id=notice.id)
    await notices.resolve_objection(objection, resolution="已核对", upheld=False, actor=actor)
    preview = await issuer.post(url, {"payment_ref": "代发1", "step": "preview"})
    assert preview.status_code == 200 and "¥100.00" in preview.text
    # the register moves between preview and confirm: a second objection, upheld
    second = await notices.NoticeObjection.create(notice_id=notice.id, received_on=notice.opens_on, summary="三组")
    await notices.resolve_objection(second, resolution="属实", upheld=True, actor=actor)
    confirm = await issuer.post(
        url, {"payment_ref": "代发1", "step": "confirm", "form_token": form_token(preview.text)}
    )
    assert confirm.status_code in (400, 409)
    await notice.refresh_from_db()
    assert notice.paid_at is None


async def test_an_inheritance_shows_each_heirs_units_then_is_recorded_once(sign_in):
    batch, village = await _collective(units=100)
    deceased = await make_holder("张老汉")
    first, second = await make_holder("张大"), await make_holder("张二")
    issuer = await sign_in(ISS, "confirm-inherit", "640104")
    await record_transfer(
        batch=batch, seller=village, buyer=deceased, quantity=9, price_fen=0, actor=Actor(issuer.user)
    )
    form = await issuer.get("/admin/inheritance/new")
    data = {
        "deceased_id": str(deceased.id),
        "died_on": TODAY,
        "heir_0": str(first.id),
        "share_0": "66.6",
        "heir_1": str(second.id),
        "share_1": "33.4",
        "doc_death_certificate": "死亡证明 No.7",
        "doc_notarial_certificate": "(2026)宁银证字第7号",
        "form_token": form_token(form.text),
    }
    await _previewed_then_confirmed(issuer, "/admin/inheritance", data, shown=["张大", "张二", "张老汉"])
    assert await InheritanceCase.all().count() == 1
    assert await register.holder_total(first, batch=batch) + await register.holder_total(second, batch=batch) == 9

    # previewed again, then another clerk records the same inheritance first: the confirm is refused with why
    other = await make_holder("李寡妇")
    await record_transfer(batch=batch, seller=village, buyer=other, quantity=5, price_fen=0, actor=Actor(issuer.user))
    again = {
        **data,
        "deceased_id": str(other.id),
        "form_token": form_token((await issuer.get("/admin/inheritance/new")).text),
    }
    preview = await issuer.post("/admin/inheritance", {**again, "step": "preview"})
    assert preview.status_code == 200 and shown_in(preview.text, "moves")
    from certificates import holdings
    from registry.trades import SupportingDocument

    await holdings.record_inheritance(
        deceased=other,
        heirs=[register.Heir(first, 1)],
        died_on=clock.today(),
        documents=[SupportingDocument("death_certificate", "x"), SupportingDocument("notarial_certificate", "y")],
        actor=Actor(issuer.user, ""),
    )
    refused = await issuer.post("/admin/inheritance", {**again, "step": "confirm"})
    assert refused.status_code in (400, 409) and 'class="errors"' in refused.text
    assert await InheritanceCase.all().count() == 2


async def _approved_offset(area: str = "1000") -> offsets.GreenLandOffset:
    company = await make_holder("银川某某置业有限公司", kind=HolderKind.ENTERPRISE)
    greening = await make_staff(G, "confirm-greening", "640106")
    offset = await offsets.apply_offset(
        company=company,
        offset_type="occupation",
        project="阅海湾商住小区",
        location="阅海湾",
        district_code="640106",
        lacking_area_m2=area,
        planning_approval_ref="银规-9",
        actor=Actor(greening),
    )
    return await offsets.approve_offset(offset, actor=Actor(await make_staff(L, "confirm-landscaping")))


async def test_an_offset_shows_the_units_retired_and_the_amount_then_completes_once(sign_in):
    batch, unit = await _state(units=100)
    offset = await _approved_offset()
    forestry = await sign_in(F, "confirm-offset")
    detail = await forestry.get(f"/admin/offsets/{offset.id}")
    assert 'name="step" value="preview"' in detail.text
    await _previewed_then_confirmed(
        forestry,
        f"/admin/offsets/{offset.id}/complete",
        {"batch_id": str(batch.id), "unit_price": "1200", "form_token": form_token(detail.text)},
        shown=["YC-GY-2026-001-00000001", "YC-GY-2026-001-00000002", "¥2,400.00", unit.name],
    )
    await offset.refresh_from_db()
    assert offset.status is offsets.OffsetStatus.COMPLETED and offset.units == 2
    assert await offsets.StateRevenue.all().count() == 1


async def test_an_offset_whose_units_were_sold_meanwhile_is_refused_with_the_reason(sign_in):
    batch, _unit = await _state(units=2)
    offset = await _approved_offset("2000")  # 3 units of 666.6667 m²
    forestry = await sign_in(F, "confirm-offset-gone")
    url = f"/admin/offsets/{offset.id}/complete"
    refused_now = await forestry.post(url, {"batch_id": str(batch.id), "unit_price": "1", "step": "preview"})
    assert refused_now.status_code in (400, 409) and "可用林票数量不足" in refused_now.text  # judged at the preview
    bigger, other_unit = await _state_more()
    preview = await forestry.post(url, {"batch_id": str(bigger.id), "unit_price": "1", "step": "preview"})
    assert preview.status_code == 200 and shown_in(preview.text, "preview-units") == "3"
    buyer = await make_holder("银川某某生态公司", kind=HolderKind.ENTERPRISE)
    await record_transfer(
        batch=bigger, seller=other_unit, buyer=buyer, quantity=4, price_fen=0, actor=Actor(forestry.user)
    )  # the stock is gone
    confirm = {"batch_id": str(bigger.id), "unit_price": "1", "step": "confirm", "form_token": form_token(preview.text)}
    refused = await forestry.post(url, confirm)
    assert refused.status_code in (400, 409) and "可用林票数量不足" in refused.text
    await offset.refresh_from_db()
    assert offset.status is offsets.OffsetStatus.APPROVED


async def _state_more():  # type: ignore[no-untyped-def]
    unit = await make_holder("银川市第二国有林场", kind=HolderKind.STATE_UNIT, region="640105")
    from factories import make_parcel
    from registry.models import TicketKind

    batch = await register.issue_batch(
        kind=TicketKind.STATE,
        holder=unit,
        total_units=5,
        serial_prefix="YC-GY-2026-002",
        parcel=await make_parcel("640105"),
        unit_area_m2=Decimal("666.6667"),
    )
    return batch, unit


async def _case(batch: Batch, forestry_user) -> offsets.CompensationCase:  # type: ignore[no-untyped-def]
    offender = await make_holder("王某某")
    return await offsets.open_case(
        case_number="银林罚〔2026〕12号",
        offence="illegal_logging",
        deciding_body="银川市自然资源局",
        offender=offender,
        decided_on=clock.today(),
        actor=Actor(forestry_user),
    )


async def test_a_compensation_order_and_its_payment_are_each_previewed_then_done_once(sign_in):
    batch, unit = await _state(units=100)
    forestry = await sign_in(F, "confirm-case")
    case = await _case(batch, forestry.user)
    url = f"/admin/compensation/{case.id}"
    await _previewed_then_confirmed(
        forestry,
        url + "/order",
        {"batch_id": str(batch.id), "area_m2": "1400", "unit_price": "1234.5", "units": ""},
        shown=["¥3,703.50", "1,400"],  # 1,400 m² ÷ 666.6667 m² → 3 units
    )
    await case.refresh_from_db()
    assert case.ordered_units == 3 and case.amount_fen == 370_350
    detail = await forestry.get(url)
    await _previewed_then_confirmed(
        forestry,
        url + "/pay",
        {"payment_ref": "缴款书001", "form_token": form_token(detail.text)},
        shown=["YC-GY-2026-001-00000001", "YC-GY-2026-001-00000003", "¥3,703.50", unit.name],
    )
    await case.refresh_from_db()
    assert case.status is offsets.CompensationStatus.COMPLETED
    assert await RegisterEntry.filter(batch_id=batch.id, kind="retirement").count() == 1


async def test_a_compensation_payment_whose_units_were_sold_meanwhile_is_refused(sign_in):
    batch, unit = await _state(units=5)
    forestry = await sign_in(F, "confirm-case-gone")
    case = await _case(batch, forestry.user)
    await offsets.order_compensation(case, batch=batch, unit_price_fen=100, actor=Actor(forestry.user), units=4)
    url = f"/admin/compensation/{case.id}/pay"
    preview = await forestry.post(url, {"payment_ref": "缴款书9", "step": "preview"})
    assert preview.status_code == 200 and shown_in(preview.text, "preview-units") == "4"
    buyer = await make_holder("银川某某生态公司", kind=HolderKind.ENTERPRISE)
    await record_transfer(batch=batch, seller=unit, buyer=buyer, quantity=3, price_fen=0, actor=Actor(forestry.user))
    refused = await forestry.post(
        url, {"payment_ref": "缴款书9", "step": "confirm", "form_token": form_token(preview.text)}
    )
    assert refused.status_code in (400, 409) and "可用林票数量不足" in refused.text
    await case.refresh_from_db()
    assert case.status is offsets.CompensationStatus.ORDERED


async def test_preview_pages_read_in_english(sign_in):
    forestry = await sign_in(F, "confirm-english")
    quota = await quotas.open_quota(units=1234)
    page = await forestry.post(f"/admin/quotas/{quota.id}/withdraw?lang=en", {"reason": "unsold", "step": "preview"})
    assert page.status_code == 200
    assert "Confirm withdrawing unsold tickets" in page.text and "1,234" in page.text
    assert "Back to the form" in page.text and "确认" not in page.text


def test_every_string_of_the_confirm_pages_has_an_english_translation():
    from pathlib import Path

    from kernel.i18n import translations

    root = Path(__file__).resolve().parents[2] / "admin/templates"
    call = re.compile(r"""_\(\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')""")
    names = [
        "_confirm.html",
        "_preview.html",
        "issue_preview.html",
        "quota_withdraw_preview.html",
        "quota_close_preview.html",
    ]
    names += ["application_detail.html", "quotas.html", *(p.name for p in (root / "trades").glob("*preview.html"))]
    sources = [root / n if (root / n).exists() else root / "trades" / n for n in names]
    used = {a or b for path in sources for a, b in call.findall(path.read_text(encoding="utf-8"))}
    english = translations("en", "admin")
    assert len(used) > 60
    assert sorted(s for s in used if english.gettext(s) == s) == []


async def _trade_to_file(sign_in, username: str):  # type: ignore[no-untyped-def]
    """A collective transfer waiting for its filings, recorded by a new issuer: (issuer, trade, filing URL)."""
    batch, village = await _collective(units=100)
    issuer = await sign_in(ISS, username)
    buyer = await make_holder("备案受让方")
    trade = await record_transfer(
        batch=batch, seller=village, buyer=buyer, quantity=30, price_fen=0, actor=Actor(issuer.user)
    )
    return issuer, trade, f"/admin/trades/{trade.id}/filings"


async def test_a_filing_shows_what_it_completes_then_is_recorded_once(sign_in):
    issuer, trade, url = await _trade_to_file(sign_in, "confirm-filing")
    page = await issuer.get(f"/admin/trades/{trade.id}")
    assert 'name="step" value="preview"' in page.text
    data = {"authority": "village_committee", "filed_on": TODAY, "reference": "村备1"}
    await _previewed_then_confirmed(issuer, url, data, shown=["备案受让方", "村备1", "仍待备案"], token=False)
    forestry = await sign_in(F, "confirm-filing-city")
    await issuer.post(
        url, {"authority": "district_government", "filed_on": TODAY, "reference": "区备2", "step": "confirm"}
    )
    last = {"authority": "city_forestry", "filed_on": TODAY, "reference": "市备3"}
    preview = await forestry.post(url, {**last, "step": "preview"})
    assert "交易生效" in shown_in(preview.text, "preview-effect")
    await trade.refresh_from_db()
    assert trade.status is TradeStatus.PENDING_FILING  # the rehearsal made nothing effective
    await _previewed_then_confirmed(forestry, url, last, shown=["市备3"], token=False)
    await trade.refresh_from_db()
    assert trade.status is TradeStatus.EFFECTIVE


async def test_a_filing_recorded_differently_between_preview_and_confirm_is_refused(sign_in):
    issuer, trade, url = await _trade_to_file(sign_in, "confirm-filing-changed")
    data = {"authority": "village_committee", "filed_on": TODAY, "reference": "村备1"}
    preview = await issuer.post(url, {**data, "step": "preview"})
    assert preview.status_code == 200
    other = {**data, "reference": "村备-另一位职员"}
    assert (await issuer.post(url, {**other, "step": "confirm"})).status_code == 303  # meanwhile
    before = await snapshot()
    refused = await issuer.post(url, {**data, "step": "confirm", "form_token": ""})
    assert refused.status_code in (400, 409) and "当前状态不允许该操作" in refused.text
    assert await snapshot() == before
    filing = await TradeFiling.get(trade_id=trade.id, authority="village_committee")
    assert filing.reference == "村备-另一位职员"
