"""Public notices (公示): a dividend cannot be paid before its notice closes or while an objection is unsettled;
collective issuance is published with the applicant masked; the notice board shows open and closed notices."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from factories import id_of, make_holder, make_parcel
from factories.trades import make_actor, village_batch
from kernel import clock
from registry import applications, notices
from registry.access import NotPermitted
from registry.applications import submit_application
from registry.dividends import record_dividend
from registry.models import AuditLog, HolderKind, StaffRole, TicketKind
from registry.notices import NoticeKind, PublicNotice
from registry.trades import record_transfer

# 10:00 Beijing on 1 June; a 7-day notice runs 1–7 June and closes at 00:00 on 8 June (16:00 UTC on 7 June)
PUBLISHED = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)
LAST_MINUTE = datetime(2026, 6, 7, 15, 59, tzinfo=UTC)  # 23:59 Beijing on 7 June
CLOSED = datetime(2026, 6, 7, 16, 1, tzinfo=UTC)  # 00:01 Beijing on 8 June


async def _dividend():  # type: ignore[no-untyped-def]
    batch, village = await village_batch(units=1000)
    actor = await make_actor()
    household = await make_holder("马建国")
    await record_transfer(batch=batch, seller=village, buyer=household, quantity=400, price_fen=0, actor=actor)
    dividend = await record_dividend(
        batch=batch, income_fen=500_000, record_date=clock.today(), source="绿源合作社2025年经营收入", actor=actor
    )
    return dividend, actor, household


async def test_a_dividend_is_paid_only_after_its_notice_closes(db):
    dividend, actor, household = await _dividend()
    with pytest.raises(notices.NoticeMissing):
        await notices.record_dividend_payment(dividend, payment_ref="银行代发 0001", actor=actor)
    with clock.use(clock.FixedClock(PUBLISHED)) as fixed:
        notice = await notices.publish_dividend_notice(dividend, actor=actor)
        assert notice.period_days == 7 and notice.opens_on.isoformat() == "2026-06-01"
        assert notice.closes_on.isoformat() == "2026-06-07"
        assert (
            "¥5,000.00" in notice.body and "村集体 ¥3,000.00" in notice.body and "其他持有人 ¥2,000.00" in notice.body
        )
        assert household.name not in notice.body and id_of(household) not in notice.body
        assert (await notices.publish_dividend_notice(dividend, actor=actor)).id == notice.id  # once
        fixed.set(LAST_MINUTE)
        with pytest.raises(notices.NoticeStillOpen):
            await notices.record_dividend_payment(dividend, payment_ref="银行代发 0001", actor=actor)
        fixed.set(CLOSED)
        paid = await notices.record_dividend_payment(dividend, payment_ref="银行代发 0001", actor=actor)
        assert paid.paid_at == CLOSED and paid.payment_ref == "银行代发 0001"
        with pytest.raises(notices.AlreadyPaid):
            await notices.record_dividend_payment(dividend, payment_ref="again", actor=actor)
    assert await AuditLog.filter(action="dividend.pay").count() == 1


async def test_an_unsettled_objection_holds_the_payment(db):
    dividend, actor, _household = await _dividend()
    with clock.use(clock.FixedClock(PUBLISHED)) as fixed:
        notice = await notices.publish_dividend_notice(dividend, actor=actor, period_days=10)
        assert notice.closes_on.isoformat() == "2026-06-10"
        fixed.advance(timedelta(days=2))
        objection = await notices.record_objection(
            notice, received_on=clock.today(), summary="二组马某称登记日持有份额有误", actor=actor
        )
        with pytest.raises(notices.InvalidNotice):  # received outside the period
            await notices.record_objection(
                notice, received_on=notice.opens_on - timedelta(days=1), summary="x", actor=actor
            )
        fixed.advance(timedelta(days=10))
        with pytest.raises(notices.ObjectionPending):
            await notices.record_dividend_payment(dividend, payment_ref="银行代发 0002", actor=actor)
        await notices.resolve_objection(objection, resolution="经核对登记簿，份额无误，已答复", actor=actor)
        await notices.record_dividend_payment(dividend, payment_ref="银行代发 0002", actor=actor)


async def test_the_period_is_the_issuers_and_bounded(db):
    dividend, actor, _ = await _dividend()
    for bad in (0, 61, True, "7"):
        with pytest.raises(notices.InvalidNotice):
            await notices.publish_dividend_notice(dividend, actor=actor, period_days=bad)  # type: ignore[arg-type]
    assert await PublicNotice.all().count() == 0


async def test_only_the_districts_clerk_publishes_and_records(db):
    dividend, _actor, _ = await _dividend()
    elsewhere = await make_actor(StaffRole.ISSUER, "640122")  # 贺兰县's issuer, the batch is 兴庆区's
    with pytest.raises(NotPermitted):
        await notices.publish_dividend_notice(dividend, actor=elsewhere)
    with pytest.raises(NotPermitted):
        await notices.publish_dividend_notice(dividend, actor=await make_actor(StaffRole.FINANCE))
    assert await PublicNotice.all().count() == 0


async def test_a_collective_issuance_is_published_with_the_applicant_masked(db):
    actor = await make_actor()
    grower = await make_holder("欧阳建华")  # a forestry household applying for its own forest
    parcel = await make_parcel("640104", area_mu="37.5")
    parcel.owner = grower
    await parcel.save(update_fields=["owner_id"])
    application = await submit_application(kind=TicketKind.COLLECTIVE, parcel=parcel, applicant=grower, actor=actor)
    notice = await notices.publish_issuance_notice(application, actor=actor)
    assert notice.kind is NoticeKind.COLLECTIVE_ISSUANCE and notice.district_code == "640104"
    assert "欧**华" in notice.body and "欧阳建华" not in notice.body and id_of(grower) not in notice.body
    assert "37.5 亩" in notice.body and "兴庆区掌政镇春林村" in notice.body
    village = await make_holder("春林村股份经济合作社", kind=HolderKind.VILLAGE_COLLECTIVE)
    assert village.name  # a body's name would be shown in full


async def test_an_upheld_objection_stops_the_payment_and_is_settled_once(db):
    dividend, actor, _household = await _dividend()
    with clock.use(clock.FixedClock(PUBLISHED)) as fixed:
        notice = await notices.publish_dividend_notice(dividend, actor=actor)
        objection = await notices.record_objection(
            notice, received_on=clock.today(), summary="三组称经营收入数额有误", actor=actor
        )
        await notices.resolve_objection(objection, resolution="经核实收入少计，异议成立", upheld=True, actor=actor)
        with pytest.raises(notices.ObjectionSettled):
            await notices.resolve_objection(objection, resolution="改为不成立", actor=actor)
        fixed.set(CLOSED)
        with pytest.raises(notices.ObjectionUpheld):
            await notices.record_dividend_payment(dividend, payment_ref="银行代发 0003", actor=actor)
    await notice.refresh_from_db()
    assert notice.paid_at is None
    log = await AuditLog.filter(action="notice.resolve").values_list("details", flat=True)
    assert len(log) == 1 and log[0]["upheld"] is True


async def _approved_collective_application():  # type: ignore[no-untyped-def]
    from registry.applications import approve_application

    actor = await make_actor()
    grower = await make_holder("欧阳建华")
    parcel = await make_parcel("640104", area_mu="15")
    parcel.owner = grower
    await parcel.save(update_fields=["owner_id"])
    application = await submit_application(kind=TicketKind.COLLECTIVE, parcel=parcel, applicant=grower, actor=actor)
    await approve_application(application, actor=actor)
    return application, actor


async def _issue(application, actor):  # type: ignore[no-untyped-def]
    from decimal import Decimal

    from registry.applications import issue_application

    return await issue_application(application, unit_area_m2=Decimal("100"), actor=actor)


async def test_a_collective_issuance_waits_for_its_notice_to_close(db):
    from registry.applications import ApplicationStatus
    from registry.models import Batch, RegisterEntry

    application, actor = await _approved_collective_application()
    with pytest.raises(applications.IssuanceNoticeMissing):  # never published
        await _issue(application, actor)
    with clock.use(clock.FixedClock(PUBLISHED)) as fixed:
        await notices.publish_issuance_notice(application, actor=actor)
        fixed.set(LAST_MINUTE)
        with pytest.raises(applications.IssuanceNoticeStillOpen) as refused:
            await _issue(application, actor)
        assert refused.value.message == "发放公示期未满，不能发放林票"
        # refused: nothing issued, the application still waits
        assert await Batch.filter(kind=TicketKind.COLLECTIVE).count() == 0 and await RegisterEntry.all().count() == 0
        await application.refresh_from_db()
        assert application.status is ApplicationStatus.APPROVED
        fixed.set(CLOSED)
        batch = await _issue(application, actor)
    assert batch.total_units == 100 and batch.kind is TicketKind.COLLECTIVE
    await application.refresh_from_db()
    assert application.status is ApplicationStatus.ISSUED


async def test_a_collective_issuance_waits_for_objections_and_stops_on_an_upheld_one(db):
    from registry.models import Batch

    application, actor = await _approved_collective_application()
    with clock.use(clock.FixedClock(PUBLISHED)) as fixed:
        notice = await notices.publish_issuance_notice(application, actor=actor)
        objection = await notices.record_objection(
            notice, received_on=clock.today(), summary="邻村称四至与本村林地重叠", actor=actor
        )
        fixed.set(CLOSED)
        with pytest.raises(applications.IssuanceObjectionPending):
            await _issue(application, actor)
        await notices.resolve_objection(objection, resolution="经现场核实，四至确有重叠", upheld=True, actor=actor)
        with pytest.raises(applications.IssuanceObjectionUpheld):
            await _issue(application, actor)
    assert await Batch.filter(kind=TicketKind.COLLECTIVE).count() == 0
