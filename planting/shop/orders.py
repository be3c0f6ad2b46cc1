"""Orders for obligatory tree planting (义务植树尽责): a citizen's own, or an organisation's roster payment.

They are ordinary shop orders (reserved from the carbon quota on sale, paid through the shop's providers,
settled by :mod:`shop.orders`), with ``purpose == "planting"``. Their fulfilment differs: the tickets are
retired with the purpose "义务植树尽责（Y年度）", each person's purchase is counted toward the year
(:mod:`planting.domain`) and each person gets the fulfilment or the honour certificate.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from kernel import clock
from kernel.settings import Settings
from planting.domain import rules
from planting.domain.models import PlantingPurchase, RosterPayment, RosterSubmission
from planting.domain.purchases import CitizenRequest, count_order_purchases, create_purchase, void_order_purchases
from planting.domain.rosters import attach_order, open_payment, release_lapsed_payments
from planting.domain.rules import ORDER_PURPOSE, TREES_MAX, retirement_purpose, rule_for
from planting.shop.jobs import INLINE_CERTIFICATES, certify_purchase, certify_roster, defer_details
from registry import idcrypt, jobs, register
from registry.chain import register_transaction
from registry.errors import InsufficientUnits
from registry.holders import holder_identifier_fields
from registry.identity import normalise_id_number, organisation_kind
from registry.models import (
    Batch,
    Certificate,
    Holder,
    HolderKind,
    Holding,
    Order,
    OrderStatus,
)
from registry.quotas import current_quota, pool_holder
from shop import limits, purposes
from shop.errors import BelowMinimum, NoOpenQuota, QuotaExhausted
from shop.limits import Buyer, admit
from shop.payments.methods import order_minimum_fen

PLANTING_PURPOSE = ORDER_PURPOSE
MAX_CONTACT = 100


async def _quota(settings: Settings, amount_fen: int) -> Batch:
    quota = await current_quota()
    if quota is None:
        raise NoOpenQuota()
    minimum = order_minimum_fen(settings)  # the smallest any enabled method takes: one tree with Alipay/WeChat
    if amount_fen < minimum:
        raise BelowMinimum(f"¥{minimum // 100}.{minimum % 100:02d}")
    return quota


async def _new_order(
    settings: Settings,
    *,
    quota: Batch,
    tickets: int,
    amount_fen: int,
    year: int,
    name: str,
    contact: str,
    provider: str,
    details: dict[str, object],
    buyer: Buyer,
    at_least: int = 0,
) -> Order:
    """Create the order and reserve its tickets (inside the caller's transaction, register locked). The shop's
    limits (:mod:`shop.limits`) hold here as for any order: a roster's payment is one order."""
    pool = await pool_holder()
    left = await register.units_available(quota, pool)
    hold = await admit(settings, buyer, tickets, units_left=left, at_least=at_least)
    checkout_expires = clock.now() + hold
    order = await Order.create(
        token=secrets.token_urlsafe(24),
        batch=quota,
        quantity=tickets,
        amount_fen=amount_fen,
        purpose=PLANTING_PURPOSE,
        purpose_note=retirement_purpose(year),
        certificate_name=name,
        contact=contact[:MAX_CONTACT],
        provider=provider,
        client=buyer.group,
        details={"planting": {**details, "year": year}, "checkout_expires_at": checkout_expires.isoformat()},
        expires_at=checkout_expires + limits.RESERVATION_GRACE,
    )
    try:
        await register.reserve_units(
            batch=quota, holder=pool, quantity=tickets, order=order, expires_at=order.expires_at
        )
    except InsufficientUnits as exc:
        raise QuotaExhausted() from exc
    return order


async def price_fen() -> int:
    quota = await current_quota()
    return int(quota.price_fen or 100) if quota is not None else 100


async def create_citizen_order(
    settings: Settings, request: CitizenRequest, *, provider: str, buyer: Buyer, contact: str = ""
) -> Order:
    """A citizen's order for ``request.trees`` trees of ``request.year``, reserved in one transaction. One
    person's purchase is bounded by the rule (at most 5 trees), so the per-order maximum always admits it."""
    rule = await rule_for(request.year)
    price = await price_fen()
    quote = rules.quote(rule, request.trees, price)
    quota = await _quota(settings, quote.amount_fen)
    async with register_transaction():
        order = await _new_order(
            settings,
            quota=quota,
            tickets=quote.tickets,
            amount_fen=int(quota.price_fen or price) * quote.tickets,
            year=request.year,
            name=request.name,
            contact=contact,
            provider=provider,
            details={"kind": "citizen", "trees": request.trees, **_consent_details(request)},
            buyer=buyer,
            at_least=rule.tickets_for(TREES_MAX),
        )
        await create_purchase(
            rule=rule,
            name=request.name,
            trees=request.trees,
            assessment=request.assessment,
            price_fen=int(quota.price_fen or price),
            id_number=request.id_number,
            order=order,
        )
    return order


async def create_roster_order(
    settings: Settings, submission: RosterSubmission, *, provider: str, buyer: Buyer
) -> Order:
    """One order for every payable, unpaid row of the roster; a repeated request returns the waiting order. The
    order is held to the shop's limits like any other (an organisation's API key lifts them)."""
    price = await price_fen()
    async with register_transaction():
        payment, _purchases = await open_payment(submission, price_fen=price)
        if payment.order_id is not None:
            return await Order.get(id=payment.order_id)
        quota = await _quota(settings, int(payment.amount_fen))
        order = await _new_order(
            settings,
            quota=quota,
            tickets=int(payment.tickets),
            amount_fen=int(payment.amount_fen),
            year=submission.year,
            name=submission.organisation_name,
            contact=submission.contact,
            provider=provider,
            details={"kind": "roster", "submission": submission.id, "payment": payment.id},
            buyer=buyer,
        )
        await attach_order(payment, order)
    return order


# --- fulfilment ---------------------------------------------------------------------------------------------


def _consent_details(request: CitizenRequest) -> dict[str, object]:
    """The citizen's consent to their ID number's processing, kept with the order (PIPL art. 14, 29)."""
    if request.consented_at is None:
        return {}
    return {"id_consent": {"notice": idcrypt.NOTICE_VERSION, "at": request.consented_at.isoformat()}}


async def _person(purchase: PlantingPurchase, contact: str, consent: dict[str, object] | None) -> Holder:
    """The register's holder for a person (found again by ID number when the name matches). The purchase's
    ciphertext is opened here, once, to make the holder's record (registry.idcrypt)."""
    if purchase.id_digest:
        known = await Holder.filter(
            kind=HolderKind.INDIVIDUAL, id_digest=purchase.id_digest, name=purchase.name
        ).first()
        if known is not None:
            return known
    fields: dict[str, Any] = {}
    if purchase.id_cipher:
        fields = holder_identifier_fields(idcrypt.decrypt(purchase.id_cipher), HolderKind.INDIVIDUAL)
        if consent:
            fields["privacy_notice_version"] = str(consent.get("notice", ""))[:32]
            fields["privacy_informed_at"] = datetime.fromisoformat(str(consent["at"]))
    return await Holder.create(
        kind=HolderKind.INDIVIDUAL, name=purchase.name, contact=contact, shop_buyer=True, **fields
    )


async def _organisation(submission: RosterSubmission) -> Holder:
    code = normalise_id_number(submission.credit_code, HolderKind.ENTERPRISE)
    known = await Holder.filter(id_digest=idcrypt.digest(code)).exclude(kind=HolderKind.INDIVIDUAL).first()
    if known is not None:
        return known
    # 统一社会信用代码: chars 1–2 tell the registration authority and category (11 机关, 12 事业单位, N2 村集体…)
    kind = organisation_kind(code)
    return await Holder.create(
        kind=kind,
        name=submission.organisation_name,
        contact=submission.contact,
        shop_buyer=True,
        **holder_identifier_fields(code, kind),
    )


async def fulfil_planting(order: Order, now: datetime, reserved: Sequence[Holding] | None = None) -> None:
    """Retire a paid planting order's tickets and issue each person's certificate.

    Runs inside the shop's fulfilment transaction (register locked, units reserved — ``reserved``, when the caller
    read them under the lock), once per order: the purpose's ``fulfil`` (:mod:`shop.purposes`)."""
    purchases = await count_order_purchases(order)
    year = int(order.details["planting"]["year"])
    purpose = retirement_purpose(year)
    payment = await RosterPayment.get_or_none(order_id=order.id)
    if payment is None:
        [purchase] = purchases
        buyer = await _person(purchase, order.contact, order.details["planting"].get("id_consent"))
        entry = await register.retire_units(order=order, buyer=buyer, purpose=purpose, actor="shop", reserved=reserved)
        if purchase.certificate_id is None:
            await certify_purchase(purchase, order, buyer, [entry])
            await purchase.save(update_fields=["certificate_id"])
    else:
        # An organisation's payment: its tickets are retired to the organisation in one register entry (the
        # rows written do not grow with the staff); each person's certificate states their trees and carries
        # their own tickets — consecutive serials of that entry, in roster order. A large roster's certificates
        # are made by the job planting.certify, queued when this transaction commits (planting/shop/jobs.py).
        submission = await RosterSubmission.get(id=payment.submission_id)
        buyer = await _organisation(submission)
        entry = await register.retire_units(order=order, buyer=buyer, purpose=purpose, actor="shop", reserved=reserved)
        if len(purchases) <= INLINE_CERTIFICATES:
            await certify_roster(order, entry, purchases)
        else:
            order.details = {**order.details, "certificates": defer_details(entry, len(purchases))}
            await jobs.defer("planting.certify", order_id=order.id)
    order.buyer = buyer
    order.status = OrderStatus.FULFILLED
    order.fulfilled_at = now
    await order.save(update_fields=["buyer_id", "status", "fulfilled_at", "paid_at", "details"])


def _planting_label(order: Order) -> str:
    return order.purpose_note  # "义务植树尽责（Y年度）", the retirement's purpose


# Obligatory tree planting as an order purpose (shop/purposes.py): a roster whose order ended unpaid gives its rows
# back at once (void_order_purchases), and the expiry job releases any it missed.
PLANTING = purposes.OrderPurpose(
    name="obligatory tree planting",
    fulfil=fulfil_planting,
    label=_planting_label,
    subject="银川义务植树尽责 {quantity}张碳汇林票",
    page="/planting/orders/{token}",
    after_unpaid=void_order_purchases,
    sweep=release_lapsed_payments,
    certificate=lambda order: person_certificate(order),
)
purposes.register(PLANTING, PLANTING_PURPOSE)


# --- reading ----------------------------------------------------------------------------------------------


async def order_purchases(order: Order) -> list[PlantingPurchase]:
    return await PlantingPurchase.filter(order_id=order.id).order_by("id").prefetch_related("certificate")


async def person_certificate(order: Order) -> Certificate | None:
    """One person's certificate (fulfilment or honour) of a tree-planting order, once made."""
    purchases = await order_purchases(order)
    return purchases[0].certificate if purchases and purchases[0].certificate_id else None


async def submission_certificate_ids(submission: RosterSubmission) -> list[int]:
    """The valid certificates of a roster's paid people, in roster order."""
    purchases = await PlantingPurchase.filter(
        member__submission_id=submission.id, certificate_id__not_isnull=True
    ).order_by("member__upload_no", "member__line_no", "id")
    return [int(p.certificate_id) for p in purchases]
