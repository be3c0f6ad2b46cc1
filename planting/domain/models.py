"""The tree-planting duty's records: the year's rule, purchases, organisations' rosters, their rows and payments."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model

from registry.models import Certificate, CertificateKind, Order, StaffUser

DEFAULT_TREES_PER_DUTY = 3
MAX_NAME = 100
MAX_TEXT = 200


class PlantingRule(Model):
    """The conversion the city uses for one year: tickets per tree equivalent and trees per person's duty.

    A new rule for a year supersedes the one before (kept, with who set it and when); never deleted."""

    id = fields.IntField(primary_key=True)
    year = fields.IntField(db_index=True)
    tickets_per_tree = fields.IntField()
    trees_per_duty = fields.IntField(default=DEFAULT_TREES_PER_DUTY)
    # The lawful public-fundraising body (具有公开募捐资格的慈善组织等) that receives the donation.
    receiving_body = fields.CharField(max_length=MAX_TEXT)
    source = fields.CharField(max_length=MAX_TEXT)  # the local standard this follows (document, notice)
    notes = fields.TextField(default="")
    set_by: fields.ForeignKeyNullableRelation[StaffUser] = fields.ForeignKeyField(
        "models.StaffUser", related_name="planting_rules", null=True, on_delete=fields.RESTRICT
    )
    set_by_name = fields.CharField(max_length=100, default="")
    created_at = fields.DatetimeField()
    superseded_at = fields.DatetimeField(null=True)
    superseded_by: fields.ForeignKeyNullableRelation[PlantingRule] = fields.ForeignKeyField(
        "models.PlantingRule", related_name="supersedes", null=True, on_delete=fields.RESTRICT
    )

    class Meta:
        table = "planting_rule"
        ordering = ["-year", "-id"]

    @property
    def in_force(self) -> bool:
        return self.superseded_at is None

    def tickets_for(self, trees: int) -> int:
        return trees * self.tickets_per_tree


class DutyBasis(StrEnum):
    ID_NUMBER = "id_number"  # from the resident ID number
    DECLARED = "declared"  # declared by the buyer (no ID number given)
    PRESUMED = "presumed"  # roster row without ID number: staff are presumed to owe it


class PurchaseStatus(StrEnum):
    PENDING = "pending"  # its order is not paid yet
    COUNTED = "counted"  # paid and fulfilled: counts toward the person's year
    VOID = "void"  # its order expired, failed or was cancelled / superseded


class PlantingOutcome(StrEnum):
    FULFILS = "fulfils"  # completes the year's duty → fulfilment certificate
    PARTIAL = "partial"  # counts toward the duty, still short → honour certificate for the contribution
    BEYOND_DUTY = "beyond_duty"  # the duty was already fulfilled this year → honour certificate
    OUTSIDE_DUTY = "outside_duty"  # the person does not owe the duty → honour certificate


class PlantingPurchase(Model):
    """Trees bought for one person for one year, inside an order (a citizen's own, or an organisation's)."""

    id = fields.IntField(primary_key=True)
    year = fields.IntField()
    rule: fields.ForeignKeyRelation[PlantingRule] = fields.ForeignKeyField(
        "models.PlantingRule", related_name="purchases", on_delete=fields.RESTRICT
    )
    order: fields.ForeignKeyNullableRelation[Order] = fields.ForeignKeyField(
        "models.Order", related_name="planting_purchases", null=True, on_delete=fields.RESTRICT
    )
    member: fields.ForeignKeyNullableRelation[RosterMember] = fields.ForeignKeyField(
        "models.RosterMember", related_name="purchases", null=True, on_delete=fields.RESTRICT
    )
    name = fields.CharField(max_length=MAX_NAME)
    # legacy plain text, emptied by the wave-3 data step and never written since (registry.idcrypt)
    id_number = fields.CharField(max_length=18, null=True)
    # the person's ID number: its blind index (adds up a person's year), its ciphertext for a citizen's own
    # purchase only (it becomes the register's holder at fulfilment; a roster's people never do), its masked form
    id_digest = fields.CharField(max_length=64, null=True)
    id_cipher = fields.TextField(null=True)
    id_masked = fields.CharField(max_length=40, default="")
    trees = fields.IntField()
    tickets = fields.BigIntField()
    amount_fen = fields.BigIntField()
    owes_duty = fields.BooleanField()
    duty_basis = fields.CharEnumField(DutyBasis, max_length=16)
    status = fields.CharEnumField(PurchaseStatus, max_length=16, default=PurchaseStatus.PENDING)
    outcome = fields.CharEnumField(PlantingOutcome, max_length=16, null=True)
    trees_in_year = fields.IntField(null=True)  # the person's counted trees for the year, this one included
    certificate_kind = fields.CharEnumField(CertificateKind, max_length=32, null=True)
    certificate: fields.ForeignKeyNullableRelation[Certificate] = fields.ForeignKeyField(
        "models.Certificate", related_name="planting_purchases", null=True, on_delete=fields.RESTRICT
    )
    created_at = fields.DatetimeField(auto_now_add=True)
    counted_at = fields.DatetimeField(null=True)

    class Meta:
        table = "planting_purchase"
        indexes = (("id_digest", "year", "status"),)


class MemberStatus(StrEnum):
    PENDING = "pending"  # on the roster, not paid
    IN_PAYMENT = "in_payment"  # part of a payment not yet completed
    PAID = "paid"
    SUPERSEDED = "superseded"  # replaced by a later upload before being paid


class PaymentStatus(StrEnum):
    PENDING = "pending"
    PAID = "paid"
    SUPERSEDED = "superseded"  # a new upload replaced its rows before it was paid
    CANCELLED = "cancelled"  # its order expired, failed or was cancelled


class RosterSubmission(Model):
    """An organisation's roster for one year, reached again through a private management link (token)."""

    id = fields.IntField(primary_key=True)
    token = fields.CharField(max_length=64, unique=True)
    organisation_name = fields.CharField(max_length=MAX_TEXT)
    credit_code = fields.CharField(max_length=18, db_index=True)  # 统一社会信用代码, validated
    contact = fields.CharField(max_length=MAX_TEXT)
    year = fields.IntField()
    uploads = fields.IntField(default=0)
    # the uploader's confirmation, with the latest upload, that each person on it agreed to their ID number being
    # processed (PIPL art. 13–14), and the version of the privacy notice it referred to
    consent_version = fields.CharField(max_length=32, default="")
    consent_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "planting_roster"


class RosterPayment(Model):
    """One payment for a batch of roster rows (the first upload, then each group of late staff)."""

    id = fields.IntField(primary_key=True)
    submission: fields.ForeignKeyRelation[RosterSubmission] = fields.ForeignKeyField(
        "models.RosterSubmission", related_name="payments", on_delete=fields.RESTRICT
    )
    order: fields.ForeignKeyNullableRelation[Order] = fields.ForeignKeyField(
        "models.Order", related_name="roster_payments", null=True, on_delete=fields.RESTRICT
    )
    status = fields.CharEnumField(PaymentStatus, max_length=16, default=PaymentStatus.PENDING)
    members_count = fields.IntField()
    trees = fields.BigIntField()
    tickets = fields.BigIntField()
    amount_fen = fields.BigIntField()
    created_at = fields.DatetimeField(auto_now_add=True)
    paid_at = fields.DatetimeField(null=True)

    class Meta:
        table = "planting_roster_payment"


class RosterMember(Model):
    """One row of an uploaded roster: a member of staff, with the problems found in the row."""

    id = fields.IntField(primary_key=True)
    submission: fields.ForeignKeyRelation[RosterSubmission] = fields.ForeignKeyField(
        "models.RosterSubmission", related_name="members", on_delete=fields.RESTRICT
    )
    upload_no = fields.IntField()
    line_no = fields.IntField()
    name = fields.CharField(max_length=MAX_TEXT, default="")
    # legacy plain text, emptied by the wave-3 data step and never written since: a roster's ID numbers are only
    # ever checked (the year's duty, one person paid once), so only their blind index is kept (registry.idcrypt)
    id_number = fields.CharField(max_length=18, null=True)
    id_digest = fields.CharField(max_length=64, null=True)
    id_given_masked = fields.CharField(max_length=40, default="")  # what the file held, masked (bad IDs too)
    staff_no = fields.CharField(max_length=64, default="")
    trees = fields.IntField(null=True)  # None: the rule's trees per person
    problems = fields.JSONField(default=list)  # [{"code": ..., "severity": "error"|"warning", "detail": ...}]
    payable = fields.BooleanField()
    owes_duty = fields.BooleanField(default=True)
    duty_basis = fields.CharEnumField(DutyBasis, max_length=16, default=DutyBasis.PRESUMED)
    status = fields.CharEnumField(MemberStatus, max_length=16, default=MemberStatus.PENDING)
    payment: fields.ForeignKeyNullableRelation[RosterPayment] = fields.ForeignKeyField(
        "models.RosterPayment", related_name="members", null=True, on_delete=fields.RESTRICT
    )

    class Meta:
        table = "planting_roster_member"
        indexes = (("submission", "status"),)

    @property
    def id_masked(self) -> str:
        return self.id_given_masked
