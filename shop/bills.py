"""Daily bill comparison (对账): each direct provider's statement of a Beijing date against the register.

Alipay's trade bill (``alipay.data.dataservice.bill.downloadurl.query``) and WeChat Pay's trade bill
(``/v3/bill/tradebill``) list every payment and refund the provider made for the shop. Every difference is reported:

* ``paid_not_fulfilled`` — the provider took money for a trade whose order is not fulfilled (nor refunded), or for
  a trade the register does not know;
* ``fulfilled_not_paid`` — an order fulfilled through the provider that day whose trades are not in the bill;
* ``amount_mismatch`` — the bill's amount for a trade is not the order's;
* ``refund_not_recorded`` — the bill shows a refund of an order the register does not show refunded.

``linpiao bills --date YYYY-MM-DD`` runs it (yesterday by default: the bills of a day are ready the next morning);
run it daily from cron or a timer. Nothing is changed: the report is for finance staff to act on.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from linpiao.settings import Settings
from registry import clock
from registry.models import Order, OrderStatus
from shop.payments import PaymentError, get_provider
from shop.payments.base import BillLine
from shop.payments.trades import is_trade_of, order_id_of

SETTLED = (OrderStatus.FULFILLED, OrderStatus.REFUNDED)


@dataclass(frozen=True)
class Difference:
    provider: str
    kind: str  # paid_not_fulfilled | fulfilled_not_paid | amount_mismatch | refund_not_recorded
    out_trade_no: str
    order_id: int | None
    bill_fen: int | None
    register_fen: int | None
    detail: str = ""

    def __str__(self) -> str:
        order = f"order {self.order_id}" if self.order_id is not None else "no order"
        amounts = f"bill {_yuan(self.bill_fen)} / register {_yuan(self.register_fen)}"
        detail = f" — {self.detail}" if self.detail else ""
        return f"{self.provider} {self.kind}: {self.out_trade_no} ({order}; {amounts}){detail}"


def _yuan(fen: int | None) -> str:
    return "—" if fen is None else f"¥{fen // 100}.{fen % 100:02d}"


@dataclass
class BillReport:
    day: date
    lines: dict[str, int] = field(default_factory=dict)  # provider → bill lines read
    differences: list[Difference] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)  # provider → why its bill could not be read

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


def direct_providers(settings: Settings) -> list[str]:
    return [
        name for name, on in (("alipay", settings.alipay_enabled), ("wechat_pay", settings.wechatpay_enabled)) if on
    ]


async def _order_of(out_trade_no: str) -> Order | None:
    order_id = order_id_of(out_trade_no)
    order = await Order.get_or_none(id=order_id) if order_id is not None else None
    return order if order is not None and is_trade_of(order, out_trade_no) else None


def _refund_recorded(order: Order) -> bool:
    return order.status is OrderStatus.REFUNDED or bool(order.details.get("refund_ref"))


async def compare(provider: str, day: date, lines: list[BillLine]) -> list[Difference]:
    """The differences between one provider's bill of ``day`` and the register."""
    paid: dict[str, int] = defaultdict(int)
    refunded: dict[str, int] = defaultdict(int)
    for line in lines:
        (refunded if line.kind == "refund" else paid)[line.out_trade_no] += line.amount_fen
    differences: list[Difference] = []
    for out_trade_no, amount in sorted(paid.items()):
        order = await _order_of(out_trade_no)
        if order is None:
            differences.append(
                Difference(provider, "paid_not_fulfilled", out_trade_no, None, amount, None, "unknown trade")
            )
            continue
        if amount != int(order.amount_fen):
            differences.append(
                Difference(provider, "amount_mismatch", out_trade_no, order.id, amount, int(order.amount_fen))
            )
        if order.status not in SETTLED and not _refund_recorded(order) and not order.details.get("refund_due"):
            differences.append(
                Difference(provider, "paid_not_fulfilled", out_trade_no, order.id, amount, int(order.amount_fen),
                           f"order {order.status}")
            )  # fmt: skip
    for out_trade_no, amount in sorted(refunded.items()):
        order = await _order_of(out_trade_no)
        if order is None or not _refund_recorded(order):
            if order is not None and out_trade_no != order.provider_ref:
                continue  # the refund of an extra trade that paid an order already paid (shop.pay)
            register = int(order.amount_fen) if order is not None else None
            differences.append(
                Difference(provider, "refund_not_recorded", out_trade_no, order.id if order else None, amount, register)
            )
    fulfilled = await Order.filter(
        provider=provider,
        status__in=list(SETTLED),
        paid_at__gte=clock.day_start(day),
        paid_at__lt=clock.day_end(day),
    ).order_by("id")
    for order in fulfilled:
        trades = set(order.details.get("trades") or {}) | {order.provider_ref or ""}
        if not trades & set(paid):
            differences.append(
                Difference(provider, "fulfilled_not_paid", order.provider_ref or "", order.id, None,
                           int(order.amount_fen))
            )  # fmt: skip
    return differences


async def compare_bills(settings: Settings, day: date, *, providers: list[str] | None = None) -> BillReport:
    """Download each direct provider's bill of ``day`` and compare it with the register."""
    report = BillReport(day)
    for name in providers or direct_providers(settings):
        provider = get_provider(settings, name)
        try:
            bill = getattr(provider, "bill", None)
            if bill is None:
                continue
            lines: list[BillLine] = await bill(day)
        except PaymentError as exc:
            report.errors[name] = str(exc)
            continue
        finally:
            await provider.aclose()
        report.lines[name] = len(lines)
        report.differences += await compare(name, day, lines)
    return report
