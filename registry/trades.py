"""Trades of collective forest-land tickets (集体林地林票): transfer (转让), subscription (认购) and inheritance (继承).

Every trade moves units through :func:`registry.register.transfer_units` (or ``inherit_units``) inside one
transaction that also writes the trade's own records and its audit line; a refusal writes nothing.

**When a trade takes effect.** The plan (实施方案, 保障措施（三）) says a trade of collective tickets "shall be filed
(备案) with the village committee, the district government and the city forestry department", and that the
issuer's register records every change "in real time" (实时掌控变动信息). Linpiao therefore:

* records the change of holding in the register at once, when the trade is recorded (the register is the
  live record, and the units must not be sold twice while the filings are under way);
* opens three filings per trade — village committee (村委会), district government (辖区政府), city forestry
  department (市级林草主管部门) — each *pending* until staff record the date and the filing's reference;
* shows the trade as **not yet effective** (备案未完成，尚未生效) until all three are filed; it becomes
  **effective** (已生效) on the date of the last filing;
* refuses to let a buyer trade on units bought in a trade that is not yet effective: a holder's *tradable*
  units are its held units less what it acquired in such trades (:func:`tradable_units`).

Dividends follow the register (the units are the buyer's from the moment of recording), so a filing's delay
never leaves a unit without a holder.

**Subscription** (认购): an enterprise or cooperative (企业、合作社, holder kind ``enterprise``) subscribes a stated
share of a batch's units — the share times the batch's total must be a whole number of units — either from one
named holder or, by default, from all current holders in proportion to their tradable units (largest-remainder
method, so the parts add up exactly). The agreement's terms are kept: total price, share, operating form
(入股经营 equity / 合作经营 cooperation), term in years and the agreement's reference. The price is split over the
sellers in proportion to the units each gives. A subscription is a trade, filed like a transfer.

**Inheritance** (继承) passes all of a deceased holder's units to heirs in shares adding up to 100 %, with the
supporting documents: a death certificate and proof of the right to inherit (a notarial certificate or a court
judgment) are required. The date of death cannot be earlier than the deceased's own acquisitions: a register
entry that moved units *to* the deceased (issue, transfer, subscription, or an inheritance they were an heir of)
on a later Beijing date refuses it (:class:`~registry.errors.DeathBeforeAcquisition`).

Recording is for the issuer (the district's staff, role ``issuer``) of the batch's district; filings may also
be recorded by the city forestry department (role ``forestry``, no district) for its own filing. An inheritance
is recorded by whoever keeps *every* batch the deceased holds (the issuer for collective tickets, the forestry
department for state ones); the rules are :mod:`registry.access`'s table, asked by each function here.

**State forest-land tickets** (国有林地林票) also circulate within the city only (the residence rule of
:func:`registry.residence.check_may_receive`, asked by the register for every receiver): a transfer of state
tickets between in-city holders is recorded by the forestry department that keeps the batch's register (the
city's, or the county/district's for batches of its district: :mod:`registry.access`)
and opens **one** filing, with the city forestry department (市级林草主管部门); until it is filed the trade is
not yet effective and the buyer cannot trade those units on, exactly as for collective tickets. Subscriptions and
dividends stay with collective tickets.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from fractions import Fraction
from typing import Any

from tortoise import fields
from tortoise.models import Model

from kernel import clock
from registry import access, audit, register
from registry.access import NotPermitted as NotPermitted  # re-exported: the back-office answers it with 403
from registry.apportion import largest_remainder
from registry.chain import register_transaction
from registry.errors import (
    DeathBeforeAcquisition,
    InsufficientUnits,
    InvalidShares,
    InvalidState,
    NonPositiveQuantity,
    RegisterError,
    WrongKind,
)
from registry.idempotency import check_token, earlier_result, remember
from registry.models import (
    Batch,
    EntryKind,
    Holder,
    HolderKind,
    Holding,
    HoldingState,
    RegisterEntry,
    TicketKind,
)


class TradeKind(StrEnum):
    TRANSFER = "transfer"  # 转让
    SUBSCRIPTION = "subscription"  # 认购


class TradeStatus(StrEnum):
    PENDING_FILING = "pending_filing"  # 备案未完成，尚未生效
    EFFECTIVE = "effective"  # 已生效


class FilingAuthority(StrEnum):
    VILLAGE_COMMITTEE = "village_committee"  # 村民委员会
    DISTRICT_GOVERNMENT = "district_government"  # 辖区人民政府
    CITY_FORESTRY = "city_forestry"  # 市级林草主管部门


class FilingStatus(StrEnum):
    PENDING = "pending"  # 待备案
    FILED = "filed"  # 已备案


class OperatingForm(StrEnum):
    EQUITY = "equity"  # 入股经营
    COOPERATION = "cooperation"  # 合作经营


class DocumentKind(StrEnum):
    DEATH_CERTIFICATE = "death_certificate"  # 死亡证明
    NOTARIAL_CERTIFICATE = "notarial_certificate"  # 继承权公证书
    COURT_JUDGMENT = "court_judgment"  # 法院判决书或调解书
    KINSHIP_PROOF = "kinship_proof"  # 亲属关系证明
    OTHER = "other"  # 其他材料


FILING_AUTHORITIES = tuple(FilingAuthority)
STATE_FILING_AUTHORITIES = (FilingAuthority.CITY_FORESTRY,)  # a state trade is filed with the city forestry dept.
TRANSFERABLE_KINDS = (TicketKind.COLLECTIVE, TicketKind.STATE)


def filing_authorities(kind: TicketKind) -> tuple[FilingAuthority, ...]:
    """The filings a trade of ``kind`` tickets needs before it takes effect."""
    return STATE_FILING_AUTHORITIES if TicketKind(kind) is TicketKind.STATE else FILING_AUTHORITIES


class Trade(Model):
    """A transfer or subscription of collective tickets at a price, with its terms and filings."""

    id = fields.IntField(primary_key=True)
    kind = fields.CharEnumField(TradeKind, max_length=16)
    status = fields.CharEnumField(TradeStatus, max_length=16, default=TradeStatus.PENDING_FILING)
    batch: fields.ForeignKeyRelation[Batch] = fields.ForeignKeyField(
        "models.Batch", related_name="trades", on_delete=fields.RESTRICT
    )
    buyer: fields.ForeignKeyRelation[Holder] = fields.ForeignKeyField(
        "models.Holder", related_name="trades_bought", on_delete=fields.RESTRICT
    )
    # the one seller of a transfer or of a subscription from a named holder; null when subscribed pro rata
    seller: fields.ForeignKeyNullableRelation[Holder] = fields.ForeignKeyField(
        "models.Holder", related_name="trades_sold", null=True, on_delete=fields.RESTRICT
    )
    quantity = fields.BigIntField()
    price_fen = fields.BigIntField()  # total price of the trade
    share = fields.CharField(max_length=40, default="")  # subscription: share of the batch, "3/10"
    operating_form = fields.CharEnumField(OperatingForm, max_length=16, null=True)
    term_years = fields.IntField(null=True)
    agreement_ref = fields.CharField(max_length=200, default="")
    note = fields.TextField(default="")
    effective_on = fields.DateField(null=True)
    actor = fields.CharField(max_length=100, default="")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "trade"
        indexes = (("batch", "buyer", "status"),)

    @property
    def is_effective(self) -> bool:
        return self.status is TradeStatus.EFFECTIVE

    @property
    def share_fraction(self) -> Fraction | None:
        return Fraction(self.share) if self.share else None


class TradeLeg(Model):
    """The units one seller gave in a trade: one register entry each."""

    id = fields.IntField(primary_key=True)
    trade: fields.ForeignKeyRelation[Trade] = fields.ForeignKeyField(
        "models.Trade", related_name="legs", on_delete=fields.RESTRICT
    )
    entry: fields.OneToOneRelation[Any] = fields.OneToOneField(
        "models.RegisterEntry", related_name="trade_leg", on_delete=fields.RESTRICT
    )
    seller: fields.ForeignKeyRelation[Holder] = fields.ForeignKeyField(
        "models.Holder", related_name="trade_legs", on_delete=fields.RESTRICT
    )
    quantity = fields.BigIntField()
    price_fen = fields.BigIntField()

    class Meta:
        table = "trade_leg"
        ordering = ["id"]


class TradeFiling(Model):
    """The filing (备案) of one trade with one authority: pending, or filed on a date under a reference."""

    id = fields.IntField(primary_key=True)
    trade: fields.ForeignKeyRelation[Trade] = fields.ForeignKeyField(
        "models.Trade", related_name="filings", on_delete=fields.RESTRICT
    )
    authority = fields.CharEnumField(FilingAuthority, max_length=32)
    status = fields.CharEnumField(FilingStatus, max_length=16, default=FilingStatus.PENDING)
    filed_on = fields.DateField(null=True)
    reference = fields.CharField(max_length=200, default="")
    recorded_by = fields.CharField(max_length=100, default="")
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "trade_filing"
        unique_together = (("trade", "authority"),)
        ordering = ["id"]


class InheritanceCase(Model):
    """An inheritance (继承) recorded with its supporting documents and the register entries it wrote."""

    id = fields.IntField(primary_key=True)
    deceased: fields.ForeignKeyRelation[Holder] = fields.ForeignKeyField(
        "models.Holder", related_name="inheritances", on_delete=fields.RESTRICT
    )
    died_on = fields.DateField()
    heirs = fields.JSONField(default=list)  # [{"holder": id, "name": ..., "share": "1/2"}]
    documents = fields.JSONField(default=list)  # [{"kind": ..., "reference": ...}]
    entry_ids = fields.JSONField(default=list)
    actor = fields.CharField(max_length=100, default="")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "inheritance_case"


# ---------------------------------------------------------------------------------------------------------
# Refusals
# ---------------------------------------------------------------------------------------------------------


class NotEligibleSubscriber(RegisterError):
    code = "not_eligible_subscriber"
    message = "只有企业、合作社等经营主体可以认购集体林地林票"


class ShareNotWhole(RegisterError):
    code = "share_not_whole"
    message = "认购比例对应的林票数量必须是整数"


class DocumentsMissing(RegisterError):
    code = "documents_missing"
    message = "继承须提供死亡证明和继承权公证书或法院判决书"


class InvalidFiling(RegisterError):
    code = "invalid_filing"
    message = "备案日期或备案文号无效"


class UnitsNotYetEffective(RegisterError):
    code = "units_not_yet_effective"
    message = "通过尚未生效（备案未完成）的交易取得的林票暂不能再交易"


# ---------------------------------------------------------------------------------------------------------
# Rules
# ---------------------------------------------------------------------------------------------------------


def _check_may(actor: audit.Actor, action: access.Action, batch: Batch) -> None:
    """Who records what for which batch is :mod:`registry.access`'s table: collective tickets by the issuer of
    the batch's district, state tickets by the forestry department covering it (transfers, filings,
    inheritance), the city forestry department's own filing of any trade."""
    access.check(actor, action, access.batch_target(batch))


def _check_collective(batch: Batch) -> None:
    if batch.kind is not TicketKind.COLLECTIVE:
        raise WrongKind(batch.serial_prefix)


def _check_transferable(batch: Batch) -> None:
    if batch.kind not in TRANSFERABLE_KINDS:
        raise WrongKind(batch.serial_prefix)


def _check_price(price_fen: Any) -> int:
    if isinstance(price_fen, bool) or not isinstance(price_fen, int) or price_fen < 0:
        raise NonPositiveQuantity(f"price {price_fen}")
    return price_fen


async def pending_acquisitions(batch: Batch, holder: Holder) -> int:
    """Units ``holder`` acquired in trades of ``batch`` that are not yet effective."""
    trades = await Trade.filter(batch_id=batch.id, buyer_id=holder.id, status=TradeStatus.PENDING_FILING)
    return sum(int(t.quantity) for t in trades)


async def tradable_units(batch: Batch, holder: Holder) -> int:
    """Held units of ``holder`` that may be traded now: held, less those bought in unfiled trades."""
    held = await register.holder_total(holder, batch=batch, state=HoldingState.HELD)
    return max(0, held - await pending_acquisitions(batch, holder))


async def check_tradable(batch: Batch, seller: Holder, quantity: int) -> None:
    """Refuse a sale of more than ``seller`` holds, or of units it bought in a trade not yet effective."""
    held = await register.holder_total(seller, batch=batch, state=HoldingState.HELD)
    if held < quantity:
        raise InsufficientUnits(f"{seller.name}: {quantity}")
    if held - await pending_acquisitions(batch, seller) < quantity:
        raise UnitsNotYetEffective(seller.name)


async def _open_filings(trade: Trade, batch: Batch) -> None:
    for authority in filing_authorities(batch.kind):
        await TradeFiling.create(trade=trade, authority=authority)


async def _replayed_trade(token: str | None, action: str) -> Trade | None:
    earlier = await earlier_result(token, action)
    return None if earlier is None else await Trade.get(id=earlier)


def parse_share(text: str) -> Fraction:
    """A share typed as a percentage ("30", "12.5%") or a fraction ("3/10") → an exact fraction."""
    cleaned = text.strip().rstrip("%％").strip()
    try:
        value = Fraction(cleaned) if "/" in cleaned else Fraction(cleaned) / 100
    except (ValueError, ZeroDivisionError) as exc:
        raise InvalidShares(text) from exc
    return value


# ---------------------------------------------------------------------------------------------------------
# Transfer and subscription
# ---------------------------------------------------------------------------------------------------------


async def record_transfer(
    *,
    batch: Batch,
    seller: Holder,
    buyer: Holder,
    quantity: int,
    price_fen: int,
    actor: audit.Actor,
    serials: tuple[int, int] | None = None,
    note: str = "",
    form_token: str | None = None,
) -> Trade:
    """Record a transfer (转让) of ``quantity`` collective or state tickets from ``seller`` to ``buyer`` for
    ``price_fen``.

    The units move at once; the trade stays not yet effective until its filings are recorded (three for
    collective tickets, one with the city forestry department for state tickets)."""
    token = check_token(form_token)
    _check_transferable(batch)  # carbon tickets are nobody's to transfer here: the wrong kind, not a permission
    _check_may(actor, access.Action.TRANSFER_RECORD, batch)
    access.check_parties(seller, buyer)
    price = _check_price(price_fen)
    register._check_quantity(quantity)
    if seller.id == buyer.id:
        raise InvalidState("seller and buyer are the same holder")
    async with register_transaction(batch):  # the batch's lock: trades of other batches go on meanwhile
        replay = await _replayed_trade(token, "trade.transfer")
        if replay is not None:
            return replay
        # counted before the move; the register's own refusals (retired, reserved, foreign, too few) come first
        tradable = await tradable_units(batch, seller)
        trade = await Trade.create(
            kind=TradeKind.TRANSFER,
            batch=batch,
            buyer=buyer,
            seller=seller,
            quantity=quantity,
            price_fen=price,
            note=note.strip()[:2000],
            actor=actor.label,
        )
        entry = await register.transfer_units(
            batch=batch,
            from_holder=seller,
            to_holder=buyer,
            quantity=quantity,
            price_fen=price,
            serials=serials,
            entry_kind=register.EntryKind.TRANSFER,
            actor=actor.label,
            details={"trade": trade.id},
        )
        if tradable < quantity:
            raise UnitsNotYetEffective(seller.name)
        await TradeLeg.create(trade=trade, entry=entry, seller=seller, quantity=quantity, price_fen=price)
        await _open_filings(trade, batch)
        await remember(token, "trade.transfer", trade.id)
        await audit.record(
            actor,
            "trade.transfer",
            f"trade:{trade.id}",
            batch=batch.serial_prefix,
            seller=seller.id,
            buyer=buyer.id,
            quantity=quantity,
            price_fen=price,
            ranges=entry.ranges,
        )
    return trade


async def record_subscription(
    *,
    batch: Batch,
    subscriber: Holder,
    share: Fraction,
    price_fen: int,
    operating_form: OperatingForm | str,
    actor: audit.Actor,
    from_holder: Holder | None = None,
    term_years: int | None = None,
    agreement_ref: str = "",
    note: str = "",
    form_token: str | None = None,
) -> Trade:
    """Record a subscription (认购) of ``share`` of the batch's units by an enterprise or cooperative.

    From ``from_holder`` alone when given, else from every holder with tradable units, pro rata."""
    token = check_token(form_token)
    _check_collective(batch)
    _check_may(actor, access.Action.SUBSCRIPTION_RECORD, batch)
    access.check_parties(subscriber, from_holder)
    price = _check_price(price_fen)
    form = OperatingForm(operating_form)
    share = Fraction(share)
    if not 0 < share <= 1:
        raise InvalidShares(str(share))
    if subscriber.kind is not HolderKind.ENTERPRISE:
        raise NotEligibleSubscriber(subscriber.name)
    if term_years is not None and not 0 < term_years <= 99:
        raise NonPositiveQuantity(f"term {term_years}")
    exact = share * int(batch.total_units)
    if exact.denominator != 1:
        raise ShareNotWhole(f"{share} × {batch.total_units} = {float(exact):.4f}")
    quantity = int(exact)
    async with register_transaction(batch):
        replay = await _replayed_trade(token, "trade.subscription")
        if replay is not None:
            return replay
        sources = await _subscription_sources(batch, subscriber, quantity, from_holder)
        trade = await Trade.create(
            kind=TradeKind.SUBSCRIPTION,
            batch=batch,
            buyer=subscriber,
            seller=from_holder,
            quantity=quantity,
            price_fen=price,
            share=f"{share.numerator}/{share.denominator}",
            operating_form=form,
            term_years=term_years,
            agreement_ref=agreement_ref.strip()[:200],
            note=note.strip()[:2000],
            actor=actor.label,
        )
        prices = largest_remainder(price, [q for _, q in sources])
        legs: list[dict[str, Any]] = []
        for (seller, part), leg_price in zip(sources, prices, strict=True):
            entry = await register.transfer_units(
                batch=batch,
                from_holder=seller,
                to_holder=subscriber,
                quantity=part,
                price_fen=leg_price,
                entry_kind=register.EntryKind.SUBSCRIPTION,
                actor=actor.label,
                details={
                    "trade": trade.id,
                    "share": trade.share,
                    "operating_form": str(form),
                    "agreement_ref": trade.agreement_ref,
                },
            )
            await TradeLeg.create(trade=trade, entry=entry, seller=seller, quantity=part, price_fen=leg_price)
            legs.append({"seller": seller.id, "quantity": part, "price_fen": leg_price})
        await _open_filings(trade, batch)
        await remember(token, "trade.subscription", trade.id)
        await audit.record(
            actor,
            "trade.subscription",
            f"trade:{trade.id}",
            batch=batch.serial_prefix,
            subscriber=subscriber.id,
            share=trade.share,
            quantity=quantity,
            price_fen=price,
            operating_form=str(form),
            legs=legs,
        )
    return trade


async def _subscription_sources(
    batch: Batch, subscriber: Holder, quantity: int, from_holder: Holder | None
) -> list[tuple[Holder, int]]:
    if from_holder is not None:
        if from_holder.id == subscriber.id:
            raise InvalidState("the subscriber cannot subscribe from itself")
        await check_tradable(batch, from_holder, quantity)
        return [(from_holder, quantity)]
    held = await Holding.filter(batch_id=batch.id, state=HoldingState.HELD).exclude(holder_id=subscriber.id)
    holder_ids = sorted({h.holder_id for h in held})
    candidates: list[tuple[Holder, int]] = []
    for holder in await Holder.filter(id__in=holder_ids, deceased_on__isnull=True).order_by("id"):
        units = await tradable_units(batch, holder)
        if units > 0:
            candidates.append((holder, units))
    if sum(units for _, units in candidates) < quantity:
        raise InsufficientUnits(f"{batch.serial_prefix}: {quantity}")
    parts = largest_remainder(quantity, [units for _, units in candidates])
    return [(holder, part) for (holder, _), part in zip(candidates, parts, strict=True) if part > 0]


# ---------------------------------------------------------------------------------------------------------
# Filings
# ---------------------------------------------------------------------------------------------------------


async def record_filing(
    *,
    trade: Trade,
    authority: FilingAuthority | str,
    filed_on: date,
    reference: str,
    actor: audit.Actor,
    today: date | None = None,
    on_effective: Callable[[Trade], Awaitable[None]] | None = None,
) -> TradeFiling:
    """Record that the trade was filed (备案) with ``authority`` on ``filed_on`` under ``reference``.

    When the last filing is recorded (the third of a collective trade, the only one of a state trade) the
    trade becomes effective on the latest filing date, and
    ``on_effective`` (the buyer's holding certificate, say) runs in the same transaction. Sending the same
    filing again changes nothing; a different one for an authority already filed is refused."""
    authority = FilingAuthority(authority)
    reference = reference.strip()
    batch = await Batch.get(id=trade.batch_id)
    city = authority is FilingAuthority.CITY_FORESTRY
    _check_may(actor, access.Action.CITY_FILING_RECORD if city else access.Action.FILING_RECORD, batch)
    if authority not in filing_authorities(batch.kind):
        raise InvalidFiling(str(authority))  # a state trade is filed with the city forestry department only
    recorded_on = clock.local_date(trade.created_at)
    now_local = today or clock.today()
    if not reference or len(reference) > 200 or not recorded_on <= filed_on <= now_local:
        raise InvalidFiling(f"{filed_on} {reference[:40]}")
    async with register_transaction():
        filing = await TradeFiling.get(trade_id=trade.id, authority=authority)
        if filing.status is FilingStatus.FILED:
            if filing.filed_on == filed_on and filing.reference == reference:
                return filing
            raise InvalidState(f"{authority} already filed")
        filing.status = FilingStatus.FILED
        filing.filed_on = filed_on
        filing.reference = reference
        filing.recorded_by = actor.label
        await filing.save(update_fields=["status", "filed_on", "reference", "recorded_by", "updated_at"])
        filings = await TradeFiling.filter(trade_id=trade.id)
        await trade.refresh_from_db()
        became_effective = False
        if all(f.status is FilingStatus.FILED for f in filings):
            trade.status = TradeStatus.EFFECTIVE
            trade.effective_on = max(f.filed_on for f in filings if f.filed_on is not None)
            await trade.save(update_fields=["status", "effective_on"])
            became_effective = True
            if on_effective is not None:
                await on_effective(trade)
        await audit.record(
            actor,
            "trade.filing",
            f"trade:{trade.id}",
            authority=str(authority),
            filed_on=filed_on.isoformat(),
            reference=reference,
            effective=became_effective or None,
        )
    return filing


# ---------------------------------------------------------------------------------------------------------
# Inheritance
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SupportingDocument:
    kind: DocumentKind
    reference: str  # number or description of the document, e.g. "(2026)宁银证字第123号"


# entries that give the holder named as ``to_holder`` units to hold (an inheritance names its heirs in its moves)
ACQUISITIONS = (EntryKind.ISSUE, EntryKind.TRANSFER, EntryKind.SUBSCRIPTION)


async def acquisition_after(holder: Holder, day: date) -> RegisterEntry | None:
    """The first register entry that moved units to ``holder`` on a Beijing date after ``day``, if any."""
    after = clock.day_end(day)
    direct = (
        await RegisterEntry.filter(to_holder_id=holder.id, kind__in=ACQUISITIONS, created_at__gte=after)
        .order_by("seq")
        .first()
    )
    if direct is not None:
        return direct
    for entry in await RegisterEntry.filter(kind=EntryKind.INHERITANCE, created_at__gte=after).order_by("seq"):
        if any(int(move.get("to", 0)) == holder.id for move in entry.details.get("moves", [])):
            return entry
    return None


async def check_may_inherit(actor: audit.Actor, deceased: Holder) -> None:
    """Every batch the deceased holds must be the actor's to record (an issuer of 贺兰县 moves no unit of a
    state batch of 西夏区, nor of another district's collective batch); the carbon pool never dies."""
    access.check_role(actor, access.Action.INHERITANCE_RECORD)
    access.check_parties(deceased)
    held: list[Any] = await Holding.filter(holder_id=deceased.id, state=HoldingState.HELD).values_list(
        "batch_id", flat=True
    )
    for batch in await Batch.filter(id__in=sorted(set(held))).order_by("id"):
        _check_may(actor, access.Action.INHERITANCE_RECORD, batch)


async def record_inheritance(
    *,
    deceased: Holder,
    heirs: Sequence[register.Heir],
    died_on: date,
    documents: Sequence[SupportingDocument],
    actor: audit.Actor,
    form_token: str | None = None,
    on_recorded: Callable[[InheritanceCase], Awaitable[None]] | None = None,
) -> InheritanceCase:
    """Pass every held unit of ``deceased`` to ``heirs`` in their shares (继承), keeping the documents.

    ``on_recorded`` (the heirs' holding certificates, say) runs in the same transaction."""
    token = check_token(form_token)
    access.check_parties(*(h.holder for h in heirs))
    await check_may_inherit(actor, deceased)  # refused before anything else is said about the form
    docs = [SupportingDocument(DocumentKind(d.kind), d.reference.strip()[:200]) for d in documents]
    kinds = {d.kind for d in docs if d.reference}
    if DocumentKind.DEATH_CERTIFICATE not in kinds or not kinds & {
        DocumentKind.NOTARIAL_CERTIFICATE,
        DocumentKind.COURT_JUDGMENT,
    }:
        raise DocumentsMissing(", ".join(sorted(kinds)))
    async with register_transaction():
        earlier = await earlier_result(token, "trade.inheritance")
        if earlier is not None:
            return await InheritanceCase.get(id=earlier)
        later = await acquisition_after(deceased, died_on)
        if later is not None:
            acquired_on = clock.local_date(later.created_at)
            raise DeathBeforeAcquisition(f"{died_on.isoformat()} < {acquired_on.isoformat()} (#{later.seq})")
        await check_may_inherit(actor, deceased)  # again under the lock: what the deceased holds now
        entries = await register.inherit_units(
            deceased=deceased,
            heirs=heirs,
            died_on=died_on,
            actor=actor.label,
            documents=[f"{d.kind}:{d.reference}" for d in docs],
        )
        case = await InheritanceCase.create(
            deceased=deceased,
            died_on=died_on,
            heirs=[{"holder": h.holder.id, "name": h.holder.name, "share": str(h.share)} for h in heirs],
            documents=[{"kind": str(d.kind), "reference": d.reference} for d in docs],
            entry_ids=[e.id for e in entries],
            actor=actor.label,
        )
        if on_recorded is not None:
            await on_recorded(case)
        await remember(token, "trade.inheritance", case.id)
        await audit.record(
            actor,
            "trade.inheritance",
            f"holder:{deceased.id}",
            heirs=case.heirs,
            documents=case.documents,
            entries=case.entry_ids,
        )
    return case


# ---------------------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------------------


async def filings_of(trade: Trade) -> list[TradeFiling]:
    """The trade's filings in the order village committee, district government, city forestry (a state
    trade has the last one only)."""
    filings = {f.authority: f for f in await TradeFiling.filter(trade_id=trade.id)}
    return [filings[a] for a in FILING_AUTHORITIES if a in filings]
