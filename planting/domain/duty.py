"""Who owes the tree-planting duty (尽责义务): by the age and sex in the ID number, or as declared."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from planting.domain.errors import DeclarationRequired
from planting.domain.models import DutyBasis
from planting.domain.rules import check_year
from registry import identity

# The duty's ages (inclusive), by sex: national rules, the same every year.
DUTY_MIN_AGE = 11
DUTY_MAX_AGE_MALE = 60
DUTY_MAX_AGE_FEMALE = 55


class Sex(StrEnum):
    MALE = "male"
    FEMALE = "female"


@dataclass(frozen=True)
class DutyAssessment:
    owes: bool
    basis: DutyBasis
    sex: Sex | None = None
    age: int | None = None  # age reached in the year


def normalise_resident_id(value: str) -> str:
    """The canonical 18-character resident ID number, or :class:`InvalidIdentifier` (:mod:`registry.identity`)."""
    return identity.validate_resident_id(value)


def sex_of(id_number: str) -> Sex:
    """The 17th digit: odd for men, even for women."""
    return Sex.MALE if int(id_number[16]) % 2 else Sex.FEMALE


def age_in_year(birth: date, year: int) -> int:
    """The age reached on the birthday in ``year`` (equivalently, the age on 31 December)."""
    return year - birth.year


def owes_by_age(sex: Sex, age: int) -> bool:
    upper = DUTY_MAX_AGE_MALE if sex is Sex.MALE else DUTY_MAX_AGE_FEMALE
    return DUTY_MIN_AGE <= age <= upper


def duty_from_id(id_number: str, year: int) -> DutyAssessment:
    """Whether the holder of a (valid, normalised) resident ID number owes the duty in ``year``."""
    birth = identity.birth_date(id_number)
    sex = sex_of(id_number)
    age = age_in_year(birth, year)
    return DutyAssessment(owes=owes_by_age(sex, age), basis=DutyBasis.ID_NUMBER, sex=sex, age=age)


def assess_duty(year: int, id_number: str | None = None, *, declared_owes: bool | None = None) -> DutyAssessment:
    """The duty from the ID number when given (validated here), else from the buyer's declaration."""
    year = check_year(year)
    if id_number:
        return duty_from_id(normalise_resident_id(id_number), year)
    if declared_owes is None:
        raise DeclarationRequired()
    return DutyAssessment(owes=bool(declared_owes), basis=DutyBasis.DECLARED)
