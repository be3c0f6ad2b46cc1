"""Keeping the list of holders (持有人): create, edit and search, with identifiers validated on the way in."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from tortoise.expressions import Q, Subquery
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from registry import access, audit, residence
from registry.errors import InvalidIdentifier, RegisterError
from registry.identity import check_holder_kind, normalise_id_number, region_of
from registry.models import Holder, HolderKind, Holding, HoldingState, Order, Parcel, ResidenceEvidence
from registry.names import visible_text


class InvalidHolder(RegisterError):
    code = "invalid_holder"
    message = "持有人信息不完整或无效"


class DuplicateHolder(RegisterError):
    code = "duplicate_holder"
    message = "该身份证号码或统一社会信用代码已登记"


@dataclass(frozen=True)
class HolderInput:
    kind: HolderKind
    name: str
    id_number: str
    contact: str = ""
    # Residence or registered office as the clerk checked it (registry.residence): a district code or "outside",
    # and the evidence. Both empty: leave the residence as it is (nothing recorded for a new holder).
    residence_district: str = ""
    residence_evidence: str = ""


async def _clean(data: HolderInput, *, exclude_id: int | None = None) -> dict[str, Any]:
    name = visible_text(data.name)
    if not name or len(name) > 200:
        raise InvalidHolder(name)
    kind = HolderKind(data.kind)
    if not data.id_number.strip():
        raise InvalidIdentifier("")
    id_number = normalise_id_number(data.id_number.strip().upper(), kind)
    access.check_identifier(id_number)  # the carbon pool's code is the pool's alone
    check_holder_kind(id_number, kind)  # an N2… village collective is not an enterprise, nor a 91… firm a village
    duplicate = Holder.filter(id_number=id_number)
    if exclude_id is not None:
        duplicate = duplicate.exclude(id=exclude_id)
    if await duplicate.exists():
        raise DuplicateHolder()
    return {
        "kind": kind,
        "name": name,
        "id_number": id_number,
        "region_code": region_of(id_number, kind),
        "contact": data.contact.strip()[:200],
    }


def _residence_changes(holder: Holder, data: HolderInput) -> bool:
    """Whether the form records a residence. Saving a holder with its residence as on file (a confirmed one, or an
    inferred one left without evidence) does not re-stamp the clerk: only a new district or evidence is a check."""
    district, evidence = data.residence_district.strip(), data.residence_evidence.strip()
    if not district and not evidence:
        return False
    if district == holder.residence_district:
        if holder.residence_confirmed and evidence in ("", str(holder.residence_evidence)):
            return False
        if not holder.residence_confirmed and not evidence:
            return False
    return True


async def create_holder(data: HolderInput, *, actor: audit.Actor) -> Holder:
    access.check(actor, access.Action.HOLDER_CREATE)
    async with in_transaction():
        values = await _clean(data)
        holder = await Holder.create(**values)
        await audit.record(actor, "holder.create", f"holder:{holder.id}", kind=str(holder.kind))
        if _residence_changes(holder, data):
            await residence.apply_residence(
                holder, district=data.residence_district, evidence=data.residence_evidence, actor=actor
            )
    return holder


async def update_holder(holder: Holder, data: HolderInput, *, actor: audit.Actor) -> Holder:
    """Change a holder: only an account whose district the holder is tied to, or the city's forestry
    department; never the carbon pool holder (:mod:`registry.access`)."""
    access.check(actor, access.Action.HOLDER_EDIT, await access.holder_target(holder))
    async with in_transaction():
        values = await _clean(data, exclude_id=holder.id)
        changed = sorted(k for k, v in values.items() if getattr(holder, k) != v)
        for key, value in values.items():
            setattr(holder, key, value)
        await holder.save(update_fields=list(values))
        await audit.record(actor, "holder.update", f"holder:{holder.id}", changed=changed)
        if _residence_changes(holder, data):
            await residence.apply_residence(
                holder, district=data.residence_district, evidence=data.residence_evidence, actor=actor
            )
    return holder


class ShopBuyers(StrEnum):
    """Whether a holder list shows the shop's buyers (:func:`shop_buyer_condition`)."""

    HIDE = "hide"
    SHOW = "show"
    ONLY = "only"


def shop_buyer_condition() -> Q:
    """Holders the shop made for its buyers that no clerk has worked with: named as some order's buyer, with no
    residence a clerk checked, no parcel, and nothing held or reserved (their carbon tickets are retired). Read
    from the records as they are, so existing rows need no migration, and a buyer who later receives land tickets,
    owns a parcel or has a residence recorded is a back-office holder again."""
    buyers = Order.filter(buyer_id__not_isnull=True).values("buyer_id")
    holding = Holding.filter(state__in=[HoldingState.HELD, HoldingState.RESERVED]).values("holder_id")
    owners = Parcel.filter(owner_id__not_isnull=True).values("owner_id")
    return (
        Q(id__in=Subquery(buyers))
        & Q(residence_confirmed=False)
        & ~Q(id__in=Subquery(holding))
        & ~Q(id__in=Subquery(owners))
    )


def search_holders(
    *,
    text: str = "",
    kind: HolderKind | None = None,
    district: str = "",
    to_confirm: bool = False,
    shop_buyers: ShopBuyers = ShopBuyers.SHOW,
) -> QuerySet[Holder]:
    """Holders matching a name fragment or identifier, a kind, a residence district (a division code or
    ``"outside"``), and — with ``to_confirm`` — only those whose inferred residence a clerk must still confirm;
    ``shop_buyers`` hides the shop's buyers, shows them too, or shows only them."""
    query = Holder.all()
    if shop_buyers is ShopBuyers.HIDE:
        query = query.exclude(shop_buyer_condition())
    elif shop_buyers is ShopBuyers.ONLY:
        query = query.filter(shop_buyer_condition())
    text = text.strip()
    if text:
        condition = Q(name__icontains=text)
        if len(text) <= 32:  # no identifier is longer (and a longer value fails the field's validation)
            condition |= Q(id_number=text.upper())
        query = query.filter(condition)
    if kind is not None:
        query = query.filter(kind=kind)
    if district:
        query = query.filter(residence_district=district)
    if to_confirm:
        query = query.filter(residence_confirmed=False, residence_evidence=ResidenceEvidence.INFERRED_FROM_ID)
    return query.order_by("name", "id")
