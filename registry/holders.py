"""Keeping the list of holders (持有人): create, edit and search, with identifiers validated on the way in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tortoise.expressions import Q
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from registry import audit
from registry.errors import InvalidIdentifier, RegisterError
from registry.identity import normalise_id_number, region_of
from registry.models import Holder, HolderKind


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


async def _clean(data: HolderInput, *, exclude_id: int | None = None) -> dict[str, Any]:
    name = data.name.strip()
    if not name or len(name) > 200:
        raise InvalidHolder(name)
    kind = HolderKind(data.kind)
    if not data.id_number.strip():
        raise InvalidIdentifier("")
    id_number = normalise_id_number(data.id_number.strip().upper(), kind)
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


async def create_holder(data: HolderInput, *, actor: audit.Actor) -> Holder:
    async with in_transaction():
        values = await _clean(data)
        holder = await Holder.create(**values)
        await audit.record(actor, "holder.create", f"holder:{holder.id}", kind=str(holder.kind))
    return holder


async def update_holder(holder: Holder, data: HolderInput, *, actor: audit.Actor) -> Holder:
    async with in_transaction():
        values = await _clean(data, exclude_id=holder.id)
        changed = sorted(k for k, v in values.items() if getattr(holder, k) != v)
        for key, value in values.items():
            setattr(holder, key, value)
        await holder.save(update_fields=list(values))
        await audit.record(actor, "holder.update", f"holder:{holder.id}", changed=changed)
    return holder


def search_holders(*, text: str = "", kind: HolderKind | None = None, district: str = "") -> QuerySet[Holder]:
    """Holders matching a name fragment or identifier, a kind and a district (by division code)."""
    query = Holder.all()
    text = text.strip()
    if text:
        query = query.filter(Q(name__icontains=text) | Q(id_number=text.upper()))
    if kind is not None:
        query = query.filter(kind=kind)
    if district:
        query = query.filter(region_code__startswith=district)
    return query.order_by("name", "id")
