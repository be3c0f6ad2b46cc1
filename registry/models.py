"""The one model set of Linpiao.

Every face of the application (shop, back-office, certificates) reads and writes these models; the rules
that change holdings live in :mod:`registry.register`, never in a handler.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import StrEnum

from tortoise import fields
from tortoise.models import Model

from registry import idcrypt


def joined_ranges(pairs: Iterable[Sequence[int]]) -> list[tuple[int, int]]:
    """``(first, last)`` serial ranges sorted, with adjacent ones joined into one."""
    joined: list[tuple[int, int]] = []
    for first, last in sorted((int(a), int(b)) for a, b in pairs):
        if joined and first == joined[-1][1] + 1:
            joined[-1] = (joined[-1][0], last)
        else:
            joined.append((first, last))
    return joined


class HolderKind(StrEnum):
    INDIVIDUAL = "individual"  # 个人（含林业大户）
    VILLAGE_COLLECTIVE = "village_collective"  # 村集体经济组织
    ENTERPRISE = "enterprise"  # 企业、合作社
    STATE_UNIT = "state_unit"  # 国有企事业单位
    GOVERNMENT = "government"  # 政府机关


class TicketKind(StrEnum):
    CARBON = "carbon"  # 碳汇林票
    COLLECTIVE = "collective"  # 集体林地林票
    STATE = "state"  # 国有林地林票


class HoldingState(StrEnum):
    HELD = "held"
    RESERVED = "reserved"
    RETIRED = "retired"


class EntryKind(StrEnum):
    ISSUE = "issue"  # 发放
    TRANSFER = "transfer"  # 转让
    SUBSCRIPTION = "subscription"  # 认购
    INHERITANCE = "inheritance"  # 继承
    REISSUE = "reissue"  # 补发
    RESERVATION = "reservation"
    RELEASE = "release"
    RETIREMENT = "retirement"  # 注销（抵消）
    WITHDRAWAL = "withdrawal"  # 收回未售额度
    DIVIDEND = "dividend"  # 分红


class OrderStatus(StrEnum):
    PENDING = "pending"
    PAID = "paid"  # paid, fulfilment not yet done (or awaiting async payment confirmation)
    FULFILLED = "fulfilled"
    EXPIRED = "expired"
    FAILED = "failed"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"


class CertificateKind(StrEnum):
    CARBON = "carbon"  # 碳汇林票认购证书
    PLANTING = "planting"  # 全民义务植树尽责证书
    HONOUR = "honour"  # 国土绿化荣誉证书
    COLLECTIVE_HOLDING = "collective_holding"  # 集体林地林票凭证
    STATE_HOLDING = "state_holding"  # 国有林地林票凭证


class CertificateStatus(StrEnum):
    VALID = "valid"
    REISSUED = "reissued"
    REVOKED = "revoked"
    REFUNDED = "refunded"


class StaffRole(StrEnum):
    ADMIN = "admin"
    ISSUER = "issuer"
    FORESTRY = "forestry"
    LANDSCAPING = "landscaping"
    GREENING = "greening"  # 区绿化委员会办公室（区绿委办）：受理本区绿地占补平衡申请
    FINANCE = "finance"
    AUDITOR = "auditor"


class ResidenceEvidence(StrEnum):
    """What a holder's recorded residence or registered office rests on (居住地/住所依据)."""

    NONE = "none"  # 未记录
    HOUSEHOLD_REGISTER = "household_register"  # 户口簿
    RESIDENCE_PERMIT = "residence_permit"  # 居住证
    BUSINESS_LICENCE = "business_licence"  # 营业执照住所
    REGISTRATION_CERTIFICATE = "registration_certificate"  # 登记证书住所（事业单位、机关、农村集体经济组织）
    INFERRED_FROM_ID = "inferred_from_id"  # 由证件号码推定（迁移所得，待核实）
    DECLARED_BY_COUNTY = "declared_by_county"  # 区县名册申报（导入所得，待核实：registry.county_import）


class Holder(Model):
    """A person or body that can hold forest tickets (持有人).

    ``region_code`` is where the identifier was first issued; where the holder lives or has its registered
    office is ``residence_district`` (a district code of :mod:`registry.districts`, ``"outside"`` for outside
    the city, ``""`` when not known), with its evidence and the clerk who checked it (:mod:`registry.residence`).
    """

    id = fields.IntField(primary_key=True)
    kind = fields.CharEnumField(HolderKind, max_length=32)
    name = fields.CharField(max_length=200)
    # A body's unified social credit code (public registration data) or the carbon pool's code, in plain text.
    # A person's resident ID number is never here (registry.idcrypt): encrypted in ``id_cipher``, found by its
    # blind index ``id_digest`` (bodies have one too, so every look-up by identifier is one), shown masked from
    # ``region_code`` and ``id_last4``. Rows written before wave 3 are sealed by its data step.
    id_number = fields.CharField(max_length=32, null=True, db_index=True)
    id_cipher = fields.TextField(null=True)
    id_digest = fields.CharField(max_length=64, null=True, db_index=True)
    id_last4 = fields.CharField(max_length=4, default="", db_index=True)
    # when a clerk recorded that the person was told how their ID number is processed, and under which version
    # of the privacy notice (PIPL art. 17)
    privacy_notice_version = fields.CharField(max_length=32, default="")
    privacy_informed_at = fields.DatetimeField(null=True)
    region_code = fields.CharField(max_length=6, default="", db_index=True)
    contact = fields.CharField(max_length=200, default="")
    deceased_on = fields.DateField(null=True)
    residence_district = fields.CharField(max_length=8, default="", db_index=True)
    residence_evidence = fields.CharEnumField(ResidenceEvidence, max_length=32, default=ResidenceEvidence.NONE)
    residence_checked_by: fields.ForeignKeyNullableRelation[StaffUser] = fields.ForeignKeyField(
        "models.StaffUser", related_name="residences_checked", null=True, on_delete=fields.RESTRICT
    )
    residence_checked_at = fields.DatetimeField(null=True)
    residence_confirmed = fields.BooleanField(default=False, db_index=True)
    # made by the shop for an order's buyer (registry.holders.shop_buyer_condition): hidden from the holders list
    shop_buyer = fields.BooleanField(default=False, db_index=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "holder"

    def __str__(self) -> str:
        return self.name

    @property
    def id_masked(self) -> str:
        """The identifier as every page shows it: first four and last four characters."""
        if self.id_number:
            return idcrypt.mask(self.id_number)
        return idcrypt.masked(self.region_code, self.id_last4)


class Parcel(Model):
    """A forest parcel (林地小班) that collective or state tickets stand on."""

    id = fields.IntField(primary_key=True)
    district_code = fields.CharField(max_length=6, db_index=True)
    township = fields.CharField(max_length=100, default="")
    village = fields.CharField(max_length=100, default="")
    area_mu = fields.DecimalField(max_digits=14, decimal_places=4)
    boundary_east = fields.CharField(max_length=200, default="")
    boundary_south = fields.CharField(max_length=200, default="")
    boundary_west = fields.CharField(max_length=200, default="")
    boundary_north = fields.CharField(max_length=200, default="")
    # [{"species": "新疆杨", "count": 1200}, ...]
    species = fields.JSONField(default=list)
    forest_right_cert_no = fields.CharField(max_length=100, default="")
    afforested_on = fields.DateField(null=True)
    accepted_on = fields.DateField(null=True)
    boundary_geojson = fields.JSONField(null=True)
    owner: fields.ForeignKeyNullableRelation[Holder] = fields.ForeignKeyField(
        "models.Holder", related_name="parcels", null=True, on_delete=fields.RESTRICT
    )
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "parcel"


class Batch(Model):
    """One issuance (批次): units numbered 1..total_units under one serial prefix.

    A carbon batch is a quota (定额) sold at ``price_fen`` per ticket, each ticket standing for
    ``g_co2e_per_unit`` grams of CO2e; a land batch divides a parcel into units of ``unit_area_m2``.
    """

    id = fields.IntField(primary_key=True)
    kind = fields.CharEnumField(TicketKind, max_length=16)
    serial_prefix = fields.CharField(max_length=40, unique=True)
    total_units = fields.BigIntField()
    parcel: fields.ForeignKeyNullableRelation[Parcel] = fields.ForeignKeyField(
        "models.Parcel", related_name="batches", null=True, on_delete=fields.RESTRICT
    )
    district_code = fields.CharField(max_length=6, default="")
    unit_area_m2 = fields.DecimalField(max_digits=14, decimal_places=4, null=True)
    price_fen = fields.IntField(null=True)
    g_co2e_per_unit = fields.BigIntField(null=True)
    issuing_authority = fields.CharField(max_length=200, default="")
    is_open = fields.BooleanField(default=True)
    valid_from = fields.DateField(null=True)
    valid_until = fields.DateField(null=True)
    issued_at = fields.DatetimeField(auto_now_add=True)
    closed_at = fields.DatetimeField(null=True)
    # the basis of a carbon quota's kg CO2e per ticket, as forestry records it (shown on /forests when present)
    co2e_method = fields.CharField(max_length=200, default="")
    co2e_source = fields.CharField(max_length=200, default="")
    co2e_year = fields.IntField(null=True)

    class Meta:
        table = "batch"

    def serial(self, number: int) -> str:
        return f"{self.serial_prefix}-{number:08d}"

    def serial_range(self, first: int, last: int) -> str:
        if first == last:
            return self.serial(first)
        return f"{self.serial(first)} – {self.serial(last)}"

    def serial_ranges(self, pairs: Iterable[Sequence[int]]) -> list[str]:
        """Serial ranges as people read them: in order, adjacent runs joined (an order of a quota sold in stock
        blocks holds one range per block it spans, registry.blocks)."""
        return [self.serial_range(first, last) for first, last in joined_ranges(pairs)]


class Order(Model):
    """A purchase or ordered subscription of tickets, paid through a payment provider."""

    id = fields.IntField(primary_key=True)
    token = fields.CharField(max_length=64, unique=True)  # private link secret
    batch: fields.ForeignKeyRelation[Batch] = fields.ForeignKeyField(
        "models.Batch", related_name="orders", on_delete=fields.RESTRICT
    )
    quantity = fields.BigIntField()
    amount_fen = fields.BigIntField()
    purpose = fields.CharField(max_length=32)
    purpose_note = fields.CharField(max_length=200, default="")
    certificate_name = fields.CharField(max_length=200)
    contact = fields.CharField(max_length=200, default="")
    status = fields.CharEnumField(OrderStatus, max_length=16, default=OrderStatus.PENDING)
    provider = fields.CharField(max_length=32, default="demo")
    provider_ref = fields.CharField(max_length=255, null=True, db_index=True)
    idempotency_key = fields.CharField(max_length=128, null=True, unique=True)
    # whose reservations count together for the shop's limits (shop/limits.py): "address:…" (an IPv6 /64),
    # "org:<API key id>", or "" for staff and tools
    client = fields.CharField(max_length=80, default="", db_index=True)
    buyer: fields.ForeignKeyNullableRelation[Holder] = fields.ForeignKeyField(
        "models.Holder", related_name="orders", null=True, on_delete=fields.RESTRICT
    )
    details = fields.JSONField(default=dict)
    expires_at = fields.DatetimeField()
    created_at = fields.DatetimeField(auto_now_add=True)
    paid_at = fields.DatetimeField(null=True)
    fulfilled_at = fields.DatetimeField(null=True)
    # the stock block the order reserved from, whose lock its payment takes (registry.blocks); NULL: its batch's
    block_id = fields.BigIntField(null=True)

    class Meta:
        table = "order"
        # a client's unpaid orders (shop/limits.py) without reading its paid ones; the service desk's search by
        # amount (newest first) and by day
        indexes = (("client", "status"), ("amount_fen", "id"), ("created_at",))


class Payment(Model):
    """One event reported by a payment provider about an order (kept as evidence)."""

    id = fields.IntField(primary_key=True)
    order: fields.ForeignKeyNullableRelation[Order] = fields.ForeignKeyField(
        "models.Order", related_name="payments", null=True, on_delete=fields.RESTRICT
    )
    provider = fields.CharField(max_length=32)
    event_id = fields.CharField(max_length=255, unique=True)  # deduplicates replayed events
    event_type = fields.CharField(max_length=100)
    amount_fen = fields.BigIntField(default=0)
    payload = fields.JSONField(default=dict)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "payment"


class RegisterEntry(Model):
    """An append-only line of the register (林票登记簿), chained by hash to the one before."""

    id = fields.IntField(primary_key=True)
    seq = fields.BigIntField(unique=True)
    kind = fields.CharEnumField(EntryKind, max_length=16)
    batch: fields.ForeignKeyNullableRelation[Batch] = fields.ForeignKeyField(
        "models.Batch", related_name="entries", null=True, on_delete=fields.RESTRICT
    )
    from_holder: fields.ForeignKeyNullableRelation[Holder] = fields.ForeignKeyField(
        "models.Holder", related_name="entries_out", null=True, on_delete=fields.RESTRICT
    )
    to_holder: fields.ForeignKeyNullableRelation[Holder] = fields.ForeignKeyField(
        "models.Holder", related_name="entries_in", null=True, on_delete=fields.RESTRICT
    )
    quantity = fields.BigIntField(default=0)
    ranges = fields.JSONField(default=list)  # [[first, last], ...] moved by this entry
    price_fen = fields.BigIntField(null=True)
    purpose = fields.CharField(max_length=200, default="")
    details = fields.JSONField(default=dict)
    actor = fields.CharField(max_length=100, default="")
    created_at = fields.DatetimeField()
    prev_hash = fields.CharField(max_length=64)
    hash = fields.CharField(max_length=64)
    # the entry's place in its batch's hash chain (registry.chain); NULL: an entry of the single chain kept before
    chain_seq = fields.BigIntField(null=True)
    # the stock block whose chain the entry is in (registry.blocks); NULL: its batch's own chain
    block_id = fields.BigIntField(null=True)

    class Meta:
        table = "register_entry"
        ordering = ["seq"]
        # the public list pages retirements by seq (registry.retirements); digests read a Beijing day's entries;
        # the register view and holder statements read one batch's or one holder's entries page by page (by seq)
        indexes = (
            ("kind", "seq"),
            ("created_at",),
            ("batch", "seq"),
            ("from_holder", "seq"),
            ("to_holder", "seq"),
            ("batch", "chain_seq"),
            ("block_id", "chain_seq"),
        )


class StockBlock(Model):
    """A slice of a carbon quota's serials (registry.blocks) with its own hash chain and its own counters, so that
    buyers of one quota lock different rows: ``seq`` / ``last_hash`` are the tip of the block's chain (its first
    entry links to ``anchor_hash``, an entry of the batch's chain), and the six counters are the units of the
    holdings that start in the block, by state, for everyone and for the quota's pool (``issuer``), as
    :class:`registry.counters.BatchStock` keeps them for the rest of the batch. ``issuer_held`` is exactly the
    pool's unsold tickets in the block: every range the pool holds lies inside one block."""

    id = fields.BigIntField(primary_key=True)
    batch: fields.ForeignKeyRelation[Batch] = fields.ForeignKeyField(
        "models.Batch", related_name="blocks", on_delete=fields.RESTRICT
    )
    issuer_id = fields.IntField()
    first_no = fields.BigIntField()
    last_no = fields.BigIntField()
    seq = fields.BigIntField(default=0)
    last_hash = fields.CharField(max_length=64)
    anchor_hash = fields.CharField(max_length=64)
    held = fields.BigIntField(default=0)
    reserved = fields.BigIntField(default=0)
    retired = fields.BigIntField(default=0)
    issuer_held = fields.BigIntField(default=0)
    issuer_reserved = fields.BigIntField(default=0)
    issuer_retired = fields.BigIntField(default=0)

    class Meta:
        table = "stock_block"
        unique_together = (("batch", "first_no"),)


class RegisterHead(Model):
    """Row 1: the tip of the single chain the register kept before one chain per batch (it no longer moves; every
    batch's chain starts from it), and what SQLite writes to lock the whole register (registry.chain)."""

    id = fields.IntField(primary_key=True)
    seq = fields.BigIntField(default=0)
    last_hash = fields.CharField(max_length=64)

    class Meta:
        table = "register_head"


class ChainHead(Model):
    """The tip of one batch's hash chain (``chain`` = the batch's id; 0: the entries without a batch). A register
    transaction locks the heads of the batches it changes (registry.chain)."""

    chain = fields.BigIntField(primary_key=True, generated=False)
    seq = fields.BigIntField(default=0)
    last_hash = fields.CharField(max_length=64)

    class Meta:
        table = "chain_head"


class Holding(Model):
    """A contiguous serial range ``first_no..last_no`` of one batch, held by one holder in one state."""

    id = fields.IntField(primary_key=True)
    batch: fields.ForeignKeyRelation[Batch] = fields.ForeignKeyField(
        "models.Batch", related_name="holdings", on_delete=fields.RESTRICT
    )
    holder: fields.ForeignKeyRelation[Holder] = fields.ForeignKeyField(
        "models.Holder", related_name="holdings", on_delete=fields.RESTRICT
    )
    first_no = fields.BigIntField()
    last_no = fields.BigIntField()
    state = fields.CharEnumField(HoldingState, max_length=16, default=HoldingState.HELD)
    order: fields.ForeignKeyNullableRelation[Order] = fields.ForeignKeyField(
        "models.Order", related_name="holdings", null=True, on_delete=fields.RESTRICT
    )
    reserved_until = fields.DatetimeField(null=True)
    # the retirement entry, for retired ranges: a retirement is never merged with another
    retirement: fields.ForeignKeyNullableRelation[RegisterEntry] = fields.ForeignKeyField(
        "models.RegisterEntry", related_name="retired_holdings", null=True, on_delete=fields.RESTRICT
    )
    purpose = fields.CharField(max_length=200, default="")

    class Meta:
        table = "holding"
        unique_together = (("batch", "first_no"),)
        # (state, reserved_until): the lapsed reservations, which count as available (registry.counters)
        indexes = (("holder", "state"), ("batch", "holder", "state"), ("state", "reserved_until"))

    @property
    def quantity(self) -> int:
        return int(self.last_no - self.first_no + 1)


class Certificate(Model):
    """A certificate with a public verification code; printed content comes from ``data`` only."""

    id = fields.IntField(primary_key=True)
    code = fields.CharField(max_length=32, unique=True)  # normalised: no dashes, upper case
    kind = fields.CharEnumField(CertificateKind, max_length=32)
    status = fields.CharEnumField(CertificateStatus, max_length=16, default=CertificateStatus.VALID)
    status_reason = fields.CharField(max_length=200, default="")
    holder: fields.ForeignKeyNullableRelation[Holder] = fields.ForeignKeyField(
        "models.Holder", related_name="certificates", null=True, on_delete=fields.RESTRICT
    )
    order: fields.ForeignKeyNullableRelation[Order] = fields.ForeignKeyField(
        "models.Order", related_name="certificates", null=True, on_delete=fields.RESTRICT
    )
    batch: fields.ForeignKeyNullableRelation[Batch] = fields.ForeignKeyField(
        "models.Batch", related_name="certificates", null=True, on_delete=fields.RESTRICT
    )
    entry: fields.ForeignKeyNullableRelation[RegisterEntry] = fields.ForeignKeyField(
        "models.RegisterEntry", related_name="certificates", null=True, on_delete=fields.RESTRICT
    )
    replaced_by: fields.ForeignKeyNullableRelation[Certificate] = fields.ForeignKeyField(
        "models.Certificate", related_name="replaces", null=True, on_delete=fields.RESTRICT
    )
    holder_name = fields.CharField(max_length=200)
    quantity = fields.BigIntField(default=0)
    serial_ranges = fields.TextField(default="")
    data = fields.JSONField(default=dict)
    pdf = fields.BinaryField(null=True)  # cached rendering; the same code always yields the same PDF
    issued_at = fields.DatetimeField()

    class Meta:
        table = "certificate"
        indexes = (("entry",),)  # the public retirements list reads each entry's certificates


class StaffUser(Model):
    """A back-office account."""

    id = fields.IntField(primary_key=True)
    username = fields.CharField(max_length=64, unique=True)
    password_hash = fields.CharField(max_length=255)
    role = fields.CharEnumField(StaffRole, max_length=16)
    district_code = fields.CharField(max_length=6, null=True)
    display_name = fields.CharField(max_length=100, default="")
    is_active = fields.BooleanField(default=True)
    failed_logins = fields.IntField(default=0)
    locked_until = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    password_changed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "staff_user"


class AuditLog(Model):
    """Who did what, when, and from where."""

    id = fields.IntField(primary_key=True)
    staff: fields.ForeignKeyNullableRelation[StaffUser] = fields.ForeignKeyField(
        "models.StaffUser", related_name="audit_entries", null=True, on_delete=fields.RESTRICT
    )
    username = fields.CharField(max_length=64, default="")
    action = fields.CharField(max_length=64, db_index=True)
    target = fields.CharField(max_length=200, default="")
    details = fields.JSONField(default=dict)
    ip = fields.CharField(max_length=64, default="")
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)

    class Meta:
        table = "audit_log"
        # the audit page's filter by user, newest first, and its keyset orders by action, target and address
        indexes = (("username", "id"), ("action", "id"), ("target", "id"), ("ip", "id"))
