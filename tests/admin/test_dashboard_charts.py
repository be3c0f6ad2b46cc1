"""The dashboard's charts: sales per day, tickets by purpose, issuance by district, work waiting per desk — each an
SVG drawn on the server with the same figures in a table."""

from __future__ import annotations

import re

from factories import make_batch, make_holder
from factories.certificates import paid_order
from kernel import clock
from registry.applications import ApplicationBasis, IssuanceApplication
from registry.models import HolderKind, OrderStatus, StaffRole, TicketKind
from tests.admin.conftest import village_with_parcel


def table(html: str, key: str) -> dict[str, list[str]]:
    """The rows of a chart's table: first cell → the other cells."""
    body = html.split(f'data-testid="chart-{key}-table"', 1)[1].split("</table>", 1)[0]
    rows = {}
    for row in re.findall(r"<tr>(.*?)</tr>", body.split("<tbody>", 1)[1], re.S):
        cells = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
        rows[cells[0]] = cells[1:]
    return rows


def svg(html: str, key: str) -> str:
    return html.split(f'data-testid="chart-{key}"', 1)[1].split("</svg>", 1)[0]


async def test_the_four_charts_show_the_registers_figures(sign_in):
    order, _entry = await paid_order(1234, purpose="meeting")
    order.status, order.paid_at = OrderStatus.FULFILLED, clock.now()
    await order.save(update_fields=["status", "paid_at"])
    await paid_order(20, purpose="travel")
    await make_batch(TicketKind.COLLECTIVE, units=2000)  # a collective batch in 兴庆区
    village, parcel = await village_with_parcel("640122")
    await IssuanceApplication.create(
        kind=TicketKind.COLLECTIVE,
        basis=ApplicationBasis.OWNER,
        parcel=parcel,
        applicant=village,
        district_code="640122",
    )
    await make_holder("某企业", kind=HolderKind.ENTERPRISE)

    forestry = await sign_in(StaffRole.FORESTRY)
    html = (await forestry.get("/admin/")).text

    sales = table(html, "sales")
    assert len(sales) == 30 and sales[clock.today().isoformat()][0] == "¥1,234.00"
    assert "¥1,234.00</title>" in svg(html, "sales")

    purposes = table(html, "purpose")
    assert purposes["会议"] == ["1,234", "1"] and purposes["出行"] == ["20", "1"]
    assert "会议 · 张数 · 1,234</title>" in svg(html, "purpose")

    districts = table(html, "district")
    assert districts["兴庆区"][1] == "2,000"  # collective tickets issued in the district
    assert "兴庆区 · 集体林地林票 · 2,000</title>" in svg(html, "district")

    work = table(html, "work")
    assert work["区县发放机关 · 贺兰县"] == ["1", "0"] and work["林草主管部门"] == ["0", "0"]
    assert "贺兰县 · 待审核 · 1</title>" in svg(html, "work")
    for key in ("sales", "purpose", "district", "work"):
        assert 'role="img"' in svg(html, key)


async def test_charts_of_an_empty_register_draw_without_bars(sign_in):
    issuer = await sign_in(StaffRole.ISSUER)
    html = (await issuer.get("/admin/")).text
    assert table(html, "purpose") == {"暂无数据。": []}
    assert svg(html, "purpose").count("<rect") == 1  # the legend's swatch only
    assert svg(html, "district").count("<rect") == 3  # a swatch per kind of ticket, no bar
    assert all(cells == ["0", "0"] for cells in table(html, "work").values())


def test_every_bar_and_line_lies_inside_the_chart():
    from admin.charts import Series, stacked_bars

    for money in (True, False):
        drawn = stacked_bars(
            ["兴庆区", "西夏区", "林草主管部门"], [Series("a", "#000", [5000, 100, 0]), Series("b", "#111", [1, 0, 7])],
            title="t", money=money,
        )  # fmt: skip
        ys = [float(y) for y in re.findall(r' (?:y|y1|y2)="([-\d.]+)"', drawn)]
        heights = [float(h) for h in re.findall(r' height="([-\d.]+)"', drawn)]
        assert ys and all(0 <= y <= 260 for y in ys), ys
        assert all(0 <= h <= 260 for h in heights)
        tallest = max(
            float(h) for h in re.findall(r'<rect x="[\d.]+" y="[\d.]+" width="[\d.]+" height="([\d.]+)"', drawn)
        )
        assert tallest > 100  # the largest bar fills most of the plot
    crowded = stacked_bars(["林草主管部门"] * 12, [Series("a", "#000", [1] * 12)], title="t", money=False)
    assert ">林草…</text>" in crowded and "<title>林草主管部门 · a · 1</title>" in crowded  # cut under the axis only
