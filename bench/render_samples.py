"""Render one page of each certificate kind to ``docs/certificates/<kind>.png``, and a payment receipt (收款凭证)
to ``docs/certificates/receipt.png`` (for the README).

    /tmp/venv/bin/python bench/render_samples.py [--scale 1.2]

Sample data goes into an in-memory database through the register, exactly as the shop and the back-office
make certificates; the pages are rasterised with pypdfium2 and saved as palette PNGs (well under 150 KB).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pypdfium2  # noqa: E402
from PIL import Image  # noqa: E402
from tortoise import Tortoise  # noqa: E402

from certificates import pdf  # noqa: E402
from certificates.receipt import render_receipt  # noqa: E402
from linpiao.db import tortoise_config  # noqa: E402
from registry.models import Certificate, Parcel  # noqa: E402
from registry.receipts import Receipt  # noqa: E402

BASE = "https://linpiao.yinchuan.gov.cn"


async def samples() -> dict[str, Certificate]:
    """Realistic sample certificates (names and numbers invented), made through the register."""
    from certificates import service
    from factories import make_holder
    from factories.certificates import paid_order
    from registry import register
    from registry.models import HolderKind, TicketKind
    from registry.quotas import open_quota

    await Tortoise.init(config=tortoise_config("sqlite://:memory:"))
    await Tortoise.generate_schemas()
    try:
        quota = await open_quota(units=1_000_000, serial_prefix="YC-TH-2026-001")
        order, entry = await paid_order(
            1280,
            name="宁夏贺兰山会展有限公司",
            batch=quota,
            purpose="event",
            buyer=await make_holder("宁夏贺兰山会展有限公司", kind=HolderKind.ENTERPRISE),
        )
        carbon = await service.issue_carbon_certificate(order, entry)
        order, entry = await paid_order(30, name="王小明", batch=quota, purpose="planting")
        holder = await entry.to_holder  # type: ignore[misc]
        planting = await service.issue_planting_certificate(holder, year=2026, trees=3, entries=[entry], order=order)
        order, entry = await paid_order(60, name="李秀英", batch=quota, purpose="planting")
        honour_holder = await entry.to_holder  # type: ignore[misc]
        honour = await service.issue_honour_certificate(
            honour_holder,
            year=2026,
            trees=6,
            entries=[entry],
            order=order,
        )
        certificates = {"carbon": carbon, "planting": planting, "honour": honour}
        for kind, owner_name, owner_kind, prefix, authority in (
            (
                TicketKind.COLLECTIVE,
                "兴庆区掌政镇春林村股份经济合作社",
                HolderKind.VILLAGE_COLLECTIVE,
                "YC-JT-640104-2026-001",
                "银川市兴庆区人民政府",
            ),
            (
                TicketKind.STATE,
                "宁夏银川市国有林场",
                HolderKind.STATE_UNIT,
                "YC-GY-640100-2026-001",
                "银川市自然资源局（林业）",
            ),
        ):
            owner = await make_holder(owner_name, kind=owner_kind)
            parcel = await Parcel.create(
                district_code="640104",
                township="掌政镇",
                village="春林村",
                area_mu=Decimal("150"),
                boundary_east="至唐徕渠林带",
                boundary_south="至掌政镇乡道",
                boundary_west="至春林村农田防护林",
                boundary_north="至强家庙村界",
                species=[{"species": "新疆杨", "count": 9000}, {"species": "国槐", "count": 1200}],
                forest_right_cert_no="宁(2023)兴庆区不动产权第0001024号",
            )
            batch = await register.issue_batch(
                kind=kind,
                holder=owner,
                total_units=1000,
                serial_prefix=prefix,
                parcel=parcel,
                unit_area_m2=Decimal("100"),
                issuing_authority=authority,
            )
            certificates[f"{kind}_holding"] = await service.issue_holding_certificate(batch, owner)
        return certificates
    finally:
        await Tortoise.close_connections()


def sample_receipt() -> Receipt:
    """An organisation's paid order as its receipt prints it (invented names and numbers)."""
    from datetime import datetime

    from kernel import clock

    return Receipt(
        order_id=10482,
        payer="宁夏贺兰山会展有限公司",
        payer_code="",
        paid_at=datetime(2026, 5, 18, 10, 42, 7, tzinfo=clock.CITY_TZ),
        provider="alipay",
        method="支付宝",
        trade_no="2026051822001432101458890127",
        merchant_trade_no="LP10482-2F7Q",
        ticket_kind="碳汇林票",
        quantity=1280,
        serial_ranges=("YC-TH-2026-001-00000001 – YC-TH-2026-001-00001280",),
        amount_fen=128000,
        stream="碳汇林票收入",
        receiving_body="财政部门",
        refunded=False,
    )


def _save(content: bytes, path: Path, scale: float) -> None:
    document = pypdfium2.PdfDocument(content)
    image = document[0].render(scale=scale).to_pil().convert("RGB")
    document.close()
    image.quantize(colors=64, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    print(f"{path.relative_to(ROOT)}: {image.width}×{image.height}, {path.stat().st_size / 1024:.0f} KB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.2, help="pixels per point (1.2 ≈ 86 dpi)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "certificates")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for kind, certificate in asyncio.run(samples()).items():
        _save(pdf.render_certificate(certificate, BASE), args.out / f"{kind}.png", args.scale)
    _save(render_receipt(sample_receipt(), operator="银川市林业和草原局"), args.out / "receipt.png", args.scale)


if __name__ == "__main__":
    main()
