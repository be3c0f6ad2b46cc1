"""Keeping the list of holders (持有人): create, edit and search, with identifiers validated on the way in."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from tortoise.expressions import Q, Subquery
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from kernel import clock
from registry import access, audit, idcrypt, residence
from registry.errors import InvalidIdentifier, RegisterError
from registry.identity import check_holder_kind, clean, normalise_id_number, region_of
from registry.models import Holder, HolderKind, Parcel
from registry.names import visible_text


class InvalidHolder(RegisterError):
    code = "invalid_holder"
    message = "持有人信息不完整或无效"


class DuplicateHolder(RegisterError):
    code = "duplicate_holder"
    message = "该身份证号码或统一社会信用代码已登记"


class PrivacyNoticeNotGiven(RegisterError):
    code = "privacy_notice_not_given"
    message = "登记个人身份证号码前，请向本人告知《个人信息保护说明》并勾选“已告知本人”"


def holder_identifier_fields(number: str, kind: HolderKind) -> dict[str, Any]:
    """How a holder's canonical identifier is stored (:mod:`registry.idcrypt`): a person's resident ID number
    encrypted, with its blind index and last four characters, never in plain text; a body's credit code (public
    registration data) in plain text, with its blind index too, so that every look-up by identifier is one. The
    region code is derived now, so the number need not be opened to place the holder."""
    values: dict[str, Any] = {"region_code": region_of(number, kind), "id_digest": idcrypt.digest(number)}
    if kind is HolderKind.INDIVIDUAL:
        sealed = idcrypt.seal(number)
        values.update(id_number=None, id_cipher=sealed.cipher, id_last4=sealed.last4)
    else:
        values.update(id_number=number, id_cipher=None, id_last4="")
    return values


def identifier_condition(text: str) -> Q | None:
    """The holders whose identifier is ``text`` (typed any way :func:`registry.identity.clean` folds), by the
    blind index; ``None`` when it cannot be one."""
    number = clean(text)
    if not number or len(number) > 32:
        return None
    return Q(id_digest=idcrypt.digest(number))


async def holder_by_identifier(text: str) -> Holder | None:
    """The (first) holder registered under this full identifier."""
    condition = identifier_condition(text)
    if condition is None:
        return None
    return await Holder.filter(condition).order_by("id").first()


@dataclass(frozen=True)
class HolderInput:
    kind: HolderKind
    name: str
    id_number: str  # on an edit, empty keeps the identifier on file (it is never shown whole to be retyped)
    contact: str = ""
    # Residence or registered office as the clerk checked it (registry.residence): a district code or "outside",
    # and the evidence. Both empty: leave the residence as it is (nothing recorded for a new holder).
    residence_district: str = ""
    residence_evidence: str = ""
    # the clerk told the person how their ID number is processed (the privacy notice): required whenever a
    # person's ID number is taken, on a new holder or a changed number
    informed: bool = False


async def _clean(data: HolderInput, *, existing: Holder | None = None) -> dict[str, Any]:
    name = visible_text(data.name)
    if not name or len(name) > 200:
        raise InvalidHolder(name)
    kind = HolderKind(data.kind)
    values: dict[str, Any] = {"kind": kind, "name": name, "contact": data.contact.strip()[:200]}
    typed = data.id_number.strip()
    if not typed:
        if existing is None or (kind is HolderKind.INDIVIDUAL) != (existing.kind is HolderKind.INDIVIDUAL):
            raise InvalidIdentifier("")
        if kind is not HolderKind.INDIVIDUAL and existing.id_number:
            check_holder_kind(existing.id_number, kind)
        return values  # the identifier on file stays
    id_number = normalise_id_number(typed.upper(), kind)
    access.check_identifier(id_number)  # the carbon pool's code is the pool's alone
    check_holder_kind(id_number, kind)  # an N2… village collective is not an enterprise, nor a 91… firm a village
    digest = idcrypt.digest(id_number)
    if existing is not None and existing.id_digest == digest and existing.kind == kind:
        return values  # the same number retyped: nothing to re-encrypt
    duplicate = Holder.filter(id_digest=digest)
    if existing is not None:
        duplicate = duplicate.exclude(id=existing.id)
    if await duplicate.exists():
        raise DuplicateHolder()
    if kind is HolderKind.INDIVIDUAL:
        if not data.informed:
            raise PrivacyNoticeNotGiven()
        values.update(privacy_notice_version=idcrypt.NOTICE_VERSION, privacy_informed_at=clock.now())
    return {**values, **holder_identifier_fields(id_number, kind)}


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
        values = await _clean(data, existing=holder)
        changed = sorted(k for k, v in values.items() if getattr(holder, k) != v and k != "privacy_informed_at")
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
    """Holders the shop made for its buyers that no clerk has worked with: flagged ``shop_buyer`` when the shop
    made them (the wave-3 migration flags the rows made before, by their orders), with no residence a clerk
    checked and no parcel. A buyer who later receives land tickets has a checked residence first
    (:mod:`registry.residence`), so a buyer the back-office works with is listed again. Both columns are indexed
    and parcels are few: the list does not read the orders."""
    owners = Parcel.filter(owner_id__not_isnull=True).values("owner_id")
    return Q(shop_buyer=True) & Q(residence_confirmed=False) & ~Q(id__in=Subquery(owners))


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
        if (by_identifier := identifier_condition(text)) is not None:
            condition |= by_identifier
        query = query.filter(condition)
    if kind is not None:
        query = query.filter(kind=kind)
    if district:
        query = query.filter(residence_district=district)
    if to_confirm:
        query = query.filter(residence_confirmed=False, residence_evidence__in=residence.UNCHECKED_EVIDENCE)
    return query.order_by("name", "id")
