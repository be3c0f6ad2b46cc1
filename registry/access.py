"""Who may do what to which record: the one table of record-level rules (role × district × ticket kind × record).

:mod:`admin.permissions` says which back-office pages a role may open at all. This module decides, for one
record, whether one staff account may read it or act on it, and narrows every list to what the account may read.
Every back-office view asks it, and so does every register workflow that takes an actor (holders, parcels,
issuance applications, trades, filings, inheritance, dividends, offsets, compensation, quotas, the planting rule,
certificate reissue), so a caller that is not a view is refused the same way. A refusal is a
:class:`NotPermitted` with a Chinese reason; the back-office answers it with 403, and writes nothing.

**The table** (:data:`RULES`): each action lists its grants, one per role that may do it, each with a *reach*
and, for actions on tickets, the ticket kinds it covers:

* ``ANY`` — every record, whatever the account's district (the landscaping bureau deciding offsets, the auditor
  reading);
* ``OWN`` — records of the account's own district (an issuer of 贺兰县 acts on 贺兰县's collective tickets,
  parcels and holders only); a forestry account without a district is the city's forestry department and covers
  every district (:func:`forestry_covers`);
* ``CITY`` — accounts without a district only: the city-level forestry department (quotas, the planting rule,
  offset sales, compensation).

**Where a record is** (:class:`Target`): a batch, an issuance application or a trade is where its batch or parcel
is, with its ticket kind; a parcel and its documents are in its district; an offset is in the project's
district; a holder is in every district it is tied to — its residence and the batches it holds or held (any
register entry naming it) (:func:`holder_target`, and :func:`scope_holders` for lists).
So an issuer reads and edits the holders of its own district and the holders of tickets there, and nobody
else's.

**The carbon pool holder** (:mod:`registry.pool`, the holder the shop sells from) is a record of the register
itself: whoever may read holders sees it, nobody edits it, makes it a party to a workflow or gives its code to
another holder (:class:`ReservedRecord`). Its name and code are fixed by the quota machinery, so there is no
human owner to grant it to — not even the system administrator, who changes no register data.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

from tortoise.expressions import Q, Subquery
from tortoise.models import Model
from tortoise.queryset import QuerySet

from registry.audit import Actor
from registry.districts import DISTRICTS
from registry.errors import RegisterError
from registry.models import (
    Batch,
    Certificate,
    CertificateKind,
    Holder,
    Holding,
    Parcel,
    RegisterEntry,
    StaffRole,
    StaffUser,
    TicketKind,
)
from registry.pool import is_pool, is_pool_code

M = TypeVar("M", bound=Model)

# ---------------------------------------------------------------------------------------------------------
# Refusals
# ---------------------------------------------------------------------------------------------------------


class NotPermitted(RegisterError):
    """The acting account may not do this to this record (the back-office answers 403)."""

    code = "not_permitted"
    message = "无权办理该事项"
    http_status = 403


class NotYourRole(NotPermitted):
    code = "not_your_role"
    message = "您的岗位无权办理该事项"


class OutsideReach(NotPermitted):
    code = "outside_reach"
    message = "该记录不属于您所在的辖区或您负责的林票种类，无权办理"


class CityLevelOnly(NotPermitted):
    code = "city_level_only"
    message = "该事项由市级林草主管部门办理，区县账号无权办理"


class ReservedRecord(NotPermitted):
    code = "reserved_record"
    message = "该持有人是商城售票所用的碳汇林票资金池，由登记簿自行维护，任何人都不能修改、处分或占用其证件号码"


# ---------------------------------------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------------------------------------


class Action(StrEnum):
    HOLDER_READ = "holder.read"  # holder page, statement
    HOLDER_CREATE = "holder.create"
    HOLDER_EDIT = "holder.edit"  # name, identifier, contact, residence
    PARCEL_READ = "parcel.read"  # parcel page and its documents
    PARCEL_EDIT = "parcel.edit"  # create in a district, edit, attach documents
    DOCUMENT_PUBLISH = "parcel.document.publish"  # show a parcel's photo or document on /forests, or withdraw it
    APPLICATION_READ = "application.read"
    APPLICATION_HANDLE = "application.handle"  # submit, approve, return, issue
    REGISTER_READ = "register.read"  # register entries, trades, inheritance cases, dividends of a batch
    TRANSFER_RECORD = "transfer.record"
    SUBSCRIPTION_RECORD = "subscription.record"
    DIVIDEND_RECORD = "dividend.record"
    INHERITANCE_RECORD = "inheritance.record"  # asked for every batch the deceased holds
    FILING_RECORD = "filing.record"  # the village committee's and the district government's filings
    CITY_FILING_RECORD = "filing.city.record"  # the city forestry department's filing
    OFFSET_READ = "offset.read"
    OFFSET_RECEIVE = "offset.receive"
    OFFSET_DECIDE = "offset.decide"
    OFFSET_COMPLETE = "offset.complete"  # sell and retire state units
    CASE_READ = "case.read"
    CASE_MANAGE = "case.manage"  # open a case, order the subscription
    CASE_PAY = "case.pay"  # record the payment that retires the units
    QUOTA_MANAGE = "quota.manage"  # open, close, withdraw carbon quotas
    PLANTING_RULE = "planting.rule"
    CERTIFICATE_REISSUE = "certificate.reissue"
    ORDER_RECEIPT = "order.receipt"  # a shop order's payment receipt (收款凭证), printed at the service desk
    NOTICE_READ = "notice.read"  # a public notice with its objections as recorded (what the clerk wrote)


READS = frozenset(
    {
        Action.HOLDER_READ,
        Action.PARCEL_READ,
        Action.APPLICATION_READ,
        Action.REGISTER_READ,
        Action.OFFSET_READ,
        Action.CASE_READ,
        Action.NOTICE_READ,
    }
)


class Reach(StrEnum):
    ANY = "any"
    OWN = "own"
    CITY = "city"


@dataclass(frozen=True)
class Grant:
    role: StaffRole
    reach: Reach
    kinds: frozenset[TicketKind] | None = None  # ticket kinds covered; None: any (or the record is not a ticket)


ISSUER, FORESTRY, LANDSCAPING, GREENING, FINANCE, AUDITOR = (
    StaffRole.ISSUER,
    StaffRole.FORESTRY,
    StaffRole.LANDSCAPING,
    StaffRole.GREENING,
    StaffRole.FINANCE,
    StaffRole.AUDITOR,
)
ANY, OWN, CITY = Reach.ANY, Reach.OWN, Reach.CITY
COLLECTIVE = frozenset({TicketKind.COLLECTIVE})
STATE = frozenset({TicketKind.STATE})
CARBON = frozenset({TicketKind.CARBON})

# Roles whose account without a district is the city level and covers every district (OWN reaches everything).
CITY_LEVEL_ROLES = frozenset({StaffRole.FORESTRY})

RULES: dict[Action, tuple[Grant, ...]] = {
    Action.HOLDER_READ: (
        Grant(ISSUER, OWN),
        Grant(FORESTRY, OWN),
        Grant(LANDSCAPING, ANY),
        Grant(GREENING, ANY),  # receives any company's offset application for its district
        Grant(AUDITOR, ANY),
    ),
    Action.HOLDER_CREATE: (Grant(ISSUER, ANY), Grant(FORESTRY, ANY)),  # a buyer may come from anywhere
    Action.HOLDER_EDIT: (Grant(ISSUER, OWN), Grant(FORESTRY, OWN)),
    Action.PARCEL_READ: (Grant(ISSUER, OWN), Grant(FORESTRY, OWN), Grant(LANDSCAPING, ANY), Grant(AUDITOR, ANY)),
    Action.PARCEL_EDIT: (Grant(ISSUER, OWN), Grant(FORESTRY, OWN)),
    Action.DOCUMENT_PUBLISH: (Grant(FORESTRY, OWN),),  # forestry chooses what the public sees of the forests
    Action.APPLICATION_READ: (
        Grant(ISSUER, OWN, COLLECTIVE),
        Grant(FORESTRY, OWN, STATE),
        Grant(FORESTRY, CITY),
        Grant(AUDITOR, ANY),
    ),
    Action.APPLICATION_HANDLE: (Grant(ISSUER, OWN, COLLECTIVE), Grant(FORESTRY, OWN, STATE)),
    Action.REGISTER_READ: (
        Grant(ISSUER, OWN),
        Grant(FORESTRY, OWN, STATE),
        Grant(FORESTRY, CITY),
        Grant(AUDITOR, ANY),
    ),
    Action.TRANSFER_RECORD: (Grant(ISSUER, OWN, COLLECTIVE), Grant(FORESTRY, OWN, STATE)),
    Action.SUBSCRIPTION_RECORD: (Grant(ISSUER, OWN, COLLECTIVE),),
    Action.DIVIDEND_RECORD: (Grant(ISSUER, OWN, COLLECTIVE),),
    Action.INHERITANCE_RECORD: (
        Grant(ISSUER, OWN, COLLECTIVE),
        Grant(FORESTRY, OWN, STATE),
        Grant(FORESTRY, CITY, CARBON),
    ),
    Action.FILING_RECORD: (Grant(ISSUER, OWN, COLLECTIVE), Grant(FORESTRY, OWN, STATE)),
    Action.CITY_FILING_RECORD: (
        Grant(ISSUER, OWN, COLLECTIVE),
        Grant(FORESTRY, OWN, STATE),
        Grant(FORESTRY, CITY),
    ),
    Action.OFFSET_READ: (
        Grant(GREENING, OWN),
        Grant(LANDSCAPING, ANY),
        Grant(FORESTRY, ANY),
        Grant(FINANCE, ANY),
        Grant(AUDITOR, ANY),
    ),
    Action.OFFSET_RECEIVE: (Grant(GREENING, OWN),),
    Action.OFFSET_DECIDE: (Grant(LANDSCAPING, ANY),),
    Action.OFFSET_COMPLETE: (Grant(FORESTRY, CITY),),
    Action.CASE_READ: (Grant(FORESTRY, ANY), Grant(FINANCE, ANY), Grant(AUDITOR, ANY)),
    Action.CASE_MANAGE: (Grant(FORESTRY, CITY),),
    Action.CASE_PAY: (Grant(FORESTRY, CITY),),
    Action.QUOTA_MANAGE: (Grant(FORESTRY, CITY, CARBON),),
    Action.PLANTING_RULE: (Grant(FORESTRY, CITY),),
    Action.CERTIFICATE_REISSUE: (
        Grant(ISSUER, OWN, COLLECTIVE),
        Grant(FORESTRY, OWN, STATE),
        Grant(FORESTRY, CITY, CARBON),  # carbon, tree-planting and honour certificates
    ),
    # the city forestry department runs the shop and answers its buyers; finance and the auditor read its takings
    Action.ORDER_RECEIPT: (Grant(FORESTRY, CITY), Grant(FINANCE, ANY), Grant(AUDITOR, ANY)),
    # publishing a notice and settling its objections is asked as the dividend or the application it is about
    Action.NOTICE_READ: (Grant(ISSUER, OWN), Grant(AUDITOR, ANY)),
}


# ---------------------------------------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Place:
    """Where a record is: a district code (``""`` for none) and, for tickets, their kind."""

    district: str
    kind: TicketKind | None = None


@dataclass(frozen=True)
class Target:
    """The record an action is asked about: every place it is (a holder may be in several), and whether it is
    a record of the register itself that nobody may change."""

    places: frozenset[Place] = frozenset()
    reserved: bool = False


NOWHERE = Target()  # an action on no particular record (open a quota, set the planting rule)
_NO_PLACE = Place("")
# A holder tied to no district yet (no residence recorded in the city, no tickets anywhere) is every district's to
# complete: a clerk registers a newcomer and records where they live before any ticket reaches them.
UNATTACHED = "*"


def place(district: str | None, kind: TicketKind | str | None = None) -> Target:
    return Target(frozenset({Place(district or "", TicketKind(kind) if kind else None)}))


def batch_target(batch: Batch) -> Target:
    return place(batch.district_code, batch.kind)


def parcel_target(parcel: Parcel) -> Target:
    return place(parcel.district_code)


async def batches_target(batch_ids: Iterable[int]) -> Target:
    ids = sorted(set(batch_ids))
    rows = await Batch.filter(id__in=ids).values_list("district_code", "kind") if ids else []
    return Target(frozenset(Place(str(d), TicketKind(k)) for d, k in rows))


async def certificate_target(certificate: Certificate) -> Target:
    """A holding certificate is where its batch is; every other certificate (carbon, tree-planting, honour) is
    the city's carbon tickets."""
    if certificate.kind in (CertificateKind.COLLECTIVE_HOLDING, CertificateKind.STATE_HOLDING):
        batch = await Batch.get_or_none(id=certificate.batch_id)
        kind = TicketKind.COLLECTIVE if certificate.kind is CertificateKind.COLLECTIVE_HOLDING else TicketKind.STATE
        return place(batch.district_code if batch else "", kind)
    return place("", TicketKind.CARBON)


# What ties a holder to a district besides its residence: (model, the row's district, the row's holder).
_HOLDER_TIES: tuple[tuple[type[Model], str, str], ...] = (
    (Holding, "batch__district_code", "holder_id"),
    (RegisterEntry, "batch__district_code", "from_holder_id"),
    (RegisterEntry, "batch__district_code", "to_holder_id"),
)


async def holder_districts(holder: Holder) -> frozenset[str]:
    """Every district ``holder`` is tied to: its residence, and the districts of the batches it holds or held
    (``""`` for a batch of no district, the city's carbon quotas being ``640100``); :data:`UNATTACHED` when it
    has neither a residence in the city nor any ticket.

    Owning a parcel is no tie: naming an owner on a parcel form is too light a step to bring a holder of another
    district into a clerk's reach (a transfer or an issuance, which moves units in the register, does)."""
    districts = {holder.residence_district} if holder.residence_district in DISTRICTS else set()
    attached = bool(districts)
    for model, district_field, holder_field in _HOLDER_TIES:
        # ordered by the selected column: PostgreSQL refuses DISTINCT with the model's default ORDER BY (seq)
        query = model.filter(**{holder_field: holder.id}).distinct().order_by(district_field)
        rows = await query.values_list(district_field, flat=True)
        attached = attached or bool(rows)
        districts.update(str(d or "") for d in rows)
    return frozenset(districts) if attached else frozenset({UNATTACHED})


async def holder_target(holder: Holder) -> Target:
    return Target(frozenset(Place(d) for d in await holder_districts(holder)), reserved=is_pool(holder))


def _holder_ties(district: str) -> Q:
    """Holders tied to ``district``, and the unattached ones (the same rule as :func:`holder_target`)."""
    condition = Q(residence_district=district)
    unattached = ~Q(residence_district__in=sorted(DISTRICTS))
    for model, district_field, holder_field in _HOLDER_TIES:
        rows = model.filter(**{district_field: district, f"{holder_field}__isnull": False}).values(holder_field)
        condition |= Q(id__in=Subquery(rows))
        anywhere = model.filter(**{f"{holder_field}__isnull": False}).values(holder_field)
        unattached &= ~Q(id__in=Subquery(anywhere))
    return condition | unattached


# ---------------------------------------------------------------------------------------------------------
# Deciding
# ---------------------------------------------------------------------------------------------------------


def _staff(actor: Actor | StaffUser | None) -> StaffUser | None:
    return actor.staff if isinstance(actor, Actor) else actor


def _district(staff: StaffUser) -> str:
    return staff.district_code or ""


def _covers(grant: Grant, staff: StaffUser, where: Place) -> bool:
    if grant.kinds is not None and where.kind not in grant.kinds:
        return False
    if grant.reach is Reach.ANY:
        return True
    if grant.reach is Reach.CITY:
        return not _district(staff)
    if not _district(staff):  # OWN for an account without a district: the city level of its role, or nothing
        return StaffRole(staff.role) in CITY_LEVEL_ROLES
    return where.district in (_district(staff), UNATTACHED)


def _grants(staff: StaffUser, action: Action) -> list[Grant]:
    return [g for g in RULES[action] if g.role is StaffRole(staff.role)]


def _is_system(actor: Actor | StaffUser | None) -> bool:
    """An operator's command acting without a staff account (``linpiao quota open``, the demo seed): it runs on
    the server itself, so the table does not apply to it. A request never acts as the system."""
    return isinstance(actor, Actor) and actor.staff is None and bool(actor.system)


def refusal(actor: Actor | StaffUser | None, action: Action, target: Target = NOWHERE) -> NotPermitted | None:
    """Why ``actor`` may not do ``action`` to ``target``, or ``None`` when it may."""
    if _is_system(actor):
        return None
    staff = _staff(actor)
    if staff is None or not staff.is_active:
        return NotPermitted(str(action))
    if target.reserved and action not in READS:
        return ReservedRecord(str(action))
    grants = _grants(staff, action)
    if not grants:
        return NotYourRole(f"{staff.role}: {action}")
    places = target.places or frozenset({_NO_PLACE})
    if any(_covers(g, staff, p) for g in grants for p in places):
        return None
    if _district(staff) and all(g.reach is Reach.CITY for g in grants):
        return CityLevelOnly(str(action))
    return OutsideReach(f"{staff.role} {_district(staff)}: {action} {sorted(places, key=str)}")


def may(actor: Actor | StaffUser | None, action: Action, target: Target = NOWHERE) -> bool:
    return refusal(actor, action, target) is None


def check(actor: Actor | StaffUser | None, action: Action, target: Target = NOWHERE) -> None:
    """Raise the :class:`NotPermitted` that says why ``actor`` may not do ``action`` to ``target``."""
    refused = refusal(actor, action, target)
    if refused is not None:
        raise refused


def check_role(actor: Actor | StaffUser | None, action: Action) -> None:
    """Refuse at once an account whose role has no grant for ``action`` at all, before the records are known."""
    if _is_system(actor):
        return
    staff = _staff(actor)
    if staff is None or not staff.is_active:
        raise NotPermitted(str(action))
    if not _grants(staff, action):
        raise NotYourRole(f"{staff.role}: {action}")


def check_parties(*holders: Holder | None) -> None:
    """The carbon pool holder is no party to any workflow: not a seller, buyer, heir, deceased, applicant,
    company or offender."""
    for holder in holders:
        if holder is not None and is_pool(holder):
            raise ReservedRecord(holder.name)


def check_identifier(id_number: str | None) -> None:
    """No holder but the pool may carry the pool's code (the shop finds the pool by it)."""
    if is_pool_code(id_number):
        raise ReservedRecord(str(id_number))


def forestry_covers(staff: StaffUser | None, district_code: str) -> bool:
    """The reach of a forestry department (林草主管部门): an active forestry account without a district is the
    city's and covers every district; one with a district is that county/district's and covers its own only."""
    return (
        staff is not None
        and staff.is_active
        and StaffRole(staff.role) is StaffRole.FORESTRY
        and _covers(Grant(FORESTRY, OWN), staff, Place(district_code))
    )


# ---------------------------------------------------------------------------------------------------------
# Lists
# ---------------------------------------------------------------------------------------------------------

_ALL = None  # no condition: every row


def _condition(staff: StaffUser | None, action: Action, where: Callable[[str], Q], kind_field: str | None) -> Q | None:
    """The rows of a list ``staff`` may ``action``: ``None`` for all, else a condition (one matching nothing
    when no grant applies)."""
    nothing = Q(id__in=[])
    if staff is None or not staff.is_active:
        return nothing
    conditions: list[Q] = []
    for grant in _grants(staff, action):
        kind_q: Q | None = None
        if grant.kinds is not None:
            if kind_field is None:
                continue  # a grant for tickets covers no record without a kind
            kinds: dict[str, Any] = {f"{kind_field}__in": sorted(grant.kinds)}
            kind_q = Q(**kinds)
        district = _district(staff)
        if grant.reach is Reach.CITY and district:
            continue
        if grant.reach is Reach.OWN and district:
            reach_q: Q | None = where(district)
        elif grant.reach is Reach.OWN and StaffRole(staff.role) not in CITY_LEVEL_ROLES:
            continue
        else:
            reach_q = None
        parts = [q for q in (kind_q, reach_q) if q is not None]
        if not parts:
            return _ALL
        conditions.append(parts[0] & parts[1] if len(parts) == 2 else parts[0])
    if not conditions:
        return nothing
    combined = conditions[0]
    for condition in conditions[1:]:
        combined |= condition
    return combined


def _apply(query: QuerySet[M], condition: Q | None) -> QuerySet[M]:
    return query if condition is None else query.filter(condition)


def scope(
    actor: Actor | StaffUser | None,
    action: Action,
    query: QuerySet[M],
    *,
    district: str = "district_code",
    kind: str | None = "kind",
) -> QuerySet[M]:
    """``query`` narrowed to the rows ``actor`` may ``action``; ``district`` and ``kind`` name the row's fields
    (``"batch__district_code"`` for rows of a batch; ``kind=None`` for rows that are not tickets)."""
    condition = _condition(_staff(actor), action, lambda d: Q(**{district: d}), kind)
    return _apply(query, condition)


def scope_batches(actor: Actor | StaffUser | None, action: Action, query: QuerySet[M], prefix: str = "") -> QuerySet[M]:
    """Rows of a batch (``prefix="batch__"``) or batches themselves, narrowed to what ``actor`` may ``action``."""
    return scope(actor, action, query, district=f"{prefix}district_code", kind=f"{prefix}kind")


def scope_holders(actor: Actor | StaffUser | None, query: QuerySet[Holder]) -> QuerySet[Holder]:
    """Holders ``actor`` may read: every holder for city-wide readers, else those tied to its district."""
    return _apply(query, _condition(_staff(actor), Action.HOLDER_READ, _holder_ties, None))


async def readable_batch_ids(actor: Actor | StaffUser | None, action: Action = Action.REGISTER_READ) -> set[int] | None:
    """The ids of the batches ``actor`` may read, or ``None`` when it may read every batch."""
    condition = _condition(_staff(actor), action, lambda d: Q(district_code=d), "kind")
    if condition is None:
        return None
    ids: list[Any] = await Batch.filter(condition).values_list("id", flat=True)
    return {int(i) for i in ids}
