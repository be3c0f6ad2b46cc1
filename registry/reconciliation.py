"""Provider reconciliation (对账): what a comparison of a payment provider's daily bill with the register found.

The bills themselves are the shop's (its payment providers download and parse them, :mod:`shop.bills`); this
module names the result and what the back-office needs to ask for it (:class:`BillReader`), so finance reads the
report without the back-office importing the shop. The composition root hands the shop's reader over.

Kinds of difference (``Difference.kind``):

* ``paid_not_fulfilled`` — missing in the register: the provider took money for a trade whose order is not
  fulfilled (nor refunded), or for a trade the register does not know;
* ``fulfilled_not_paid`` — missing at the provider: an order paid through it that day whose trade is not in the bill;
* ``amount_mismatch`` — the bill's amount for a trade is not the order's;
* ``refund_not_recorded`` — refunded at the provider: the bill shows a refund the register does not.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Protocol

from kernel.money import yuan_text
from registry.errors import RegisterError

KINDS = ("paid_not_fulfilled", "fulfilled_not_paid", "amount_mismatch", "refund_not_recorded")
MAX_DAYS = 31  # a range asks each provider for one bill a day: a month at most per request


@dataclass(frozen=True)
class Difference:
    provider: str
    kind: str  # one of KINDS
    out_trade_no: str
    order_id: int | None
    bill_fen: int | None
    register_fen: int | None
    detail: str = ""
    day: date | None = None  # the bill's Beijing date (set when a report of several days is put together)

    def __str__(self) -> str:
        order = f"order {self.order_id}" if self.order_id is not None else "no order"
        amounts = f"bill {_yuan(self.bill_fen)} / register {_yuan(self.register_fen)}"
        detail = f" — {self.detail}" if self.detail else ""
        return f"{self.provider} {self.kind}: {self.out_trade_no} ({order}; {amounts}){detail}"


def _yuan(fen: int | None) -> str:
    return "—" if fen is None else f"¥{yuan_text(fen)}"


@dataclass
class Matched:
    """The bill's payments that agree with the register: how many trades and how much."""

    count: int = 0
    amount_fen: int = 0


@dataclass
class BillReport:
    day: date
    lines: dict[str, int] = field(default_factory=dict)  # provider → bill lines read
    differences: list[Difference] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)  # provider → why its bill could not be read
    matched: dict[str, Matched] = field(default_factory=dict)  # provider → payments that agree

    @property
    def clean(self) -> bool:
        return not self.differences and not self.errors

    def __str__(self) -> str:
        head = [
            f"bills of {self.day.isoformat()}: "
            + (", ".join(f"{p} {n} line(s)" for p, n in self.lines.items()) or "no provider")
        ]
        head += [f"  {p}: bill not read ({why})" for p, why in self.errors.items()]
        head += [f"  {d}" for d in self.differences]
        head.append("no differences" if self.clean else f"{len(self.differences)} difference(s)")
        return "\n".join(head)


class BillReader(Protocol):
    """Each direct provider's bill of a Beijing date compared with the register (the shop's :mod:`shop.bills`)."""

    def providers(self) -> list[str]: ...

    async def report(self, day: date) -> BillReport: ...


class RangeError(RegisterError):
    code = "invalid_range"
    message = "对账日期区间无效"


@dataclass
class RangeReport:
    """The reports of every day of a range, added up per provider."""

    date_from: date
    date_to: date
    days: list[BillReport]

    @property
    def differences(self) -> list[Difference]:
        return [d for report in self.days for d in report.differences]

    @property
    def errors(self) -> list[tuple[date, str, str]]:
        return [(r.day, provider, why) for r in self.days for provider, why in r.errors.items()]

    @property
    def matched(self) -> dict[str, Matched]:
        total: dict[str, Matched] = {}
        for report in self.days:
            for provider, m in report.matched.items():
                into = total.setdefault(provider, Matched())
                into.count += m.count
                into.amount_fen += m.amount_fen
        return total

    @property
    def lines(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for report in self.days:
            for provider, n in report.lines.items():
                total[provider] = total.get(provider, 0) + n
        return total


def check_range(date_from: date, date_to: date) -> None:
    if date_from > date_to or (date_to - date_from).days + 1 > MAX_DAYS:
        raise RangeError()


async def reconcile_range(reader: BillReader, date_from: date, date_to: date) -> RangeReport:
    """Every day's bills from ``date_from`` to ``date_to`` (Beijing dates, both included), each difference
    marked with its day."""
    check_range(date_from, date_to)
    days: list[BillReport] = []
    day = date_from
    while day <= date_to:
        report = await reader.report(day)
        report.differences = [replace(d, day=day) for d in report.differences]
        days.append(report)
        day += timedelta(days=1)
    return RangeReport(date_from, date_to, days)
