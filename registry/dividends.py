"""Dividends (分红) on collective forest-land tickets.

Operators (企业、合作社) earn income from a batch's forest; the plan (林票收益 1.) says the village collective and
the households receive dividends "by their subscribed proportion" and that "income of a village collective
belongs to the collective". Staff record the income, in fen, with a record date (登记日):

* who holds what on the record date is **reconstructed from the register entries** up to the end of that day
  (Asia/Shanghai) by :func:`registry.ownership.balances_on` — no snapshot table, so a dividend can be
  recorded for any past date and the figures can always be recomputed from the hash-chained register;
* the income is split over those holders in proportion to their units by the largest-remainder method
  (:func:`registry.apportion.largest_remainder`): the parts add up to the income exactly and none differs from
  its exact share by a fen or more; ties go to the holder registered first (lowest id), so the split is
  reproducible;
* a village collective's part is its own (``stays_with_collective``): it is paid to the collective and never
  split further over villagers;
* the record date may not lie in the future, and a batch nobody held on that date is refused;
* the register gets one ``dividend`` entry (quantity = units that earned, price = the income, details = every
  part), and each holder's statement shows its part.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from tortoise import fields
from tortoise.models import Model

from kernel import clock
from registry import access, audit
from registry.access import NotPermitted as NotPermitted  # re-exported: the back-office answers it with 403
from registry.apportion import largest_remainder
from registry.chain import append_entry, register_transaction
from registry.errors import InvalidState, NonPositiveQuantity, RegisterError, WrongKind
from registry.idempotency import check_token, earlier_result, remember
from registry.models import Batch, EntryKind, Holder, HolderKind, TicketKind
from registry.ownership import balances_on


class NoHolders(RegisterError):
    code = "no_holders"
    message = "该批次在登记日没有持有人，不能分红"


class Dividend(Model):
    """Income from operating a batch's forest, split over the holders of a record date."""

    id = fields.IntField(primary_key=True)
    batch: fields.ForeignKeyRelation[Batch] = fields.ForeignKeyField(
        "models.Batch", related_name="dividends", on_delete=fields.RESTRICT
    )
    record_date = fields.DateField()
    income_fen = fields.BigIntField()
    source = fields.CharField(max_length=200, default="")  # operator and period, e.g. "某合作社 2025 年经营收入"
    entry: fields.ForeignKeyNullableRelation[Any] = fields.ForeignKeyField(
        "models.RegisterEntry", related_name="dividends", null=True, on_delete=fields.RESTRICT
    )
    actor = fields.CharField(max_length=100, default="")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "dividend"


class DividendShare(Model):
    """One holder's part of a dividend."""

    id = fields.IntField(primary_key=True)
    dividend: fields.ForeignKeyRelation[Dividend] = fields.ForeignKeyField(
        "models.Dividend", related_name="shares", on_delete=fields.RESTRICT
    )
    holder: fields.ForeignKeyRelation[Holder] = fields.ForeignKeyField(
        "models.Holder", related_name="dividend_shares", on_delete=fields.RESTRICT
    )
    units = fields.BigIntField()
    amount_fen = fields.BigIntField()
    stays_with_collective = fields.BooleanField(default=False)  # 村集体所获收益由集体所有

    class Meta:
        table = "dividend_share"
        unique_together = (("dividend", "holder"),)
        ordering = ["id"]


def split_income(income_fen: int, units_by_holder: Mapping[int, int]) -> dict[int, int]:
    """Split ``income_fen`` over holders in proportion to their units (largest remainder, ties to lower id)."""
    holders = sorted(h for h, units in units_by_holder.items() if units > 0)
    if not holders:
        raise NoHolders()
    parts = largest_remainder(income_fen, [units_by_holder[h] for h in holders])
    return dict(zip(holders, parts, strict=True))


async def record_dividend(
    *,
    batch: Batch,
    income_fen: int,
    record_date: date,
    source: str,
    actor: audit.Actor,
    form_token: str | None = None,
    today: date | None = None,
) -> Dividend:
    """Record income of ``income_fen`` from operating ``batch``'s forest and split it over the record date's holders."""
    token = check_token(form_token)
    if batch.kind is not TicketKind.COLLECTIVE:
        raise WrongKind(batch.serial_prefix)
    access.check(actor, access.Action.DIVIDEND_RECORD, access.batch_target(batch))  # the district's issuer
    if isinstance(income_fen, bool) or not isinstance(income_fen, int) or income_fen <= 0:
        raise NonPositiveQuantity(f"income {income_fen}")
    if record_date > (today or clock.today()):
        raise InvalidState(f"record date {record_date} is in the future")
    async with register_transaction(batch):  # the batch's lock: its balances on the record date hold still
        earlier = await earlier_result(token, "dividend.record")
        if earlier is not None:
            return await Dividend.get(id=earlier)
        units = await balances_on(batch, record_date)
        parts = split_income(income_fen, units)
        holders = {h.id: h for h in await Holder.filter(id__in=list(parts))}
        dividend = await Dividend.create(
            batch=batch,
            record_date=record_date,
            income_fen=income_fen,
            source=source.strip()[:200],
            actor=actor.label,
        )
        for holder_id, amount in parts.items():
            await DividendShare.create(
                dividend=dividend,
                holder_id=holder_id,
                units=units[holder_id],
                amount_fen=amount,
                stays_with_collective=holders[holder_id].kind is HolderKind.VILLAGE_COLLECTIVE,
            )
        entry = await append_entry(
            EntryKind.DIVIDEND,
            batch=batch,
            quantity=sum(units[h] for h in parts),
            price_fen=income_fen,
            purpose=dividend.source,
            actor=actor.label,
            details={
                "dividend": dividend.id,
                "record_date": record_date.isoformat(),
                "parts": [[holder_id, units[holder_id], amount] for holder_id, amount in parts.items()],
            },
        )
        dividend.entry = entry
        await dividend.save(update_fields=["entry_id"])
        await remember(token, "dividend.record", dividend.id)
        await audit.record(
            actor,
            "dividend.record",
            f"dividend:{dividend.id}",
            batch=batch.serial_prefix,
            income_fen=income_fen,
            record_date=record_date.isoformat(),
            holders=len(parts),
        )
    return dividend


async def dividend_totals(dividend: Dividend) -> dict[str, int]:
    """How much of a dividend stays with village collectives and how much goes to other holders."""
    shares = await DividendShare.filter(dividend_id=dividend.id)
    collective = sum(int(s.amount_fen) for s in shares if s.stays_with_collective)
    return {"collective_fen": collective, "others_fen": sum(int(s.amount_fen) for s in shares) - collective}
