"""Forest parcels (林地小班): their particulars, boundary outline and attached documents.

Documents (PDF/JPEG/PNG) are checked by their first bytes, not by the name or type the browser claims, and
are stored under the data directory, outside ``static/``, named by a random id.
"""

from __future__ import annotations

import hashlib
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from tortoise import fields
from tortoise.models import Model
from tortoise.transactions import in_transaction

from registry import access, audit
from registry.districts import DISTRICTS
from registry.errors import RegisterError
from registry.models import Holder, Parcel

MAX_DOCUMENT_BYTES = 10 * 1024 * 1024
MAX_SPECIES = 50
MAX_GEOJSON_POINTS = 5000
DOCUMENT_TYPES = {  # magic bytes → (content type, extension)
    b"%PDF-": ("application/pdf", "pdf"),
    b"\xff\xd8\xff": ("image/jpeg", "jpg"),
    b"\x89PNG\r\n\x1a\n": ("image/png", "png"),
}


class ParcelDocument(Model):
    """A document attached to a parcel (林权证, 验收报告, 协议…), stored on disk outside ``static/``."""

    id = fields.IntField(primary_key=True)
    parcel: fields.ForeignKeyRelation[Parcel] = fields.ForeignKeyField(
        "models.Parcel", related_name="documents", on_delete=fields.RESTRICT
    )
    title = fields.CharField(max_length=200)
    filename = fields.CharField(max_length=200)
    content_type = fields.CharField(max_length=64)
    size = fields.IntField()
    sha256 = fields.CharField(max_length=64)
    storage_name = fields.CharField(max_length=100, unique=True)
    uploaded_by = fields.CharField(max_length=64, default="")
    uploaded_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "parcel_document"


class InvalidParcel(RegisterError):
    code = "invalid_parcel"
    message = "林地小班信息不完整或无效"


class InvalidBoundary(RegisterError):
    code = "invalid_boundary"
    message = "边界必须是有效的 GeoJSON 多边形"


class InvalidDocument(RegisterError):
    code = "invalid_document"
    message = "只能上传 PDF、JPEG 或 PNG 文件，且不超过 10 MB"


@dataclass
class ParcelInput:
    district_code: str
    area_mu: str
    township: str = ""
    village: str = ""
    boundary_east: str = ""
    boundary_south: str = ""
    boundary_west: str = ""
    boundary_north: str = ""
    species: str = ""  # one "树种:株数" (species:count) per line
    forest_right_cert_no: str = ""
    afforested_on: str = ""
    accepted_on: str = ""
    boundary_geojson: str = ""
    owner_id: str = ""


def parse_species(text: str) -> list[dict[str, Any]]:
    """``新疆杨:1200`` per line (full-width colon and comma accepted) → ``[{"species", "count"}]``."""
    rows: list[dict[str, Any]] = []
    for line in text.replace("；", "\n").replace(";", "\n").splitlines():
        line = line.strip()
        if not line:
            continue
        name, sep, count = line.replace("：", ":").replace("，", ":").replace(",", ":").rpartition(":")
        name, count = name.strip(), count.strip()
        if not sep or not name or len(name) > 50 or not count.isdigit() or int(count) <= 0:
            raise InvalidParcel(line)
        rows.append({"species": name, "count": int(count)})
    if len(rows) > MAX_SPECIES:
        raise InvalidParcel("too many species")
    return rows


def species_text(rows: list[dict[str, Any]] | None) -> str:
    return "\n".join(f"{r['species']}:{r['count']}" for r in rows or [])


def _rings(geometry: dict[str, Any]) -> list[list[list[float]]]:
    kind = geometry.get("type")
    if kind == "Feature":
        return _rings(geometry.get("geometry") or {})
    if kind == "Polygon":
        polygons = [geometry.get("coordinates")]
    elif kind == "MultiPolygon":
        polygons = geometry.get("coordinates") or []
    else:
        raise InvalidBoundary(str(kind))
    rings: list[list[list[float]]] = []
    for polygon in polygons:
        if not isinstance(polygon, list) or not polygon:
            raise InvalidBoundary("empty polygon")
        for ring in polygon:
            if not isinstance(ring, list) or len(ring) < 4 or ring[0] != ring[-1]:
                raise InvalidBoundary("a ring needs at least four positions and must be closed")
            for point in ring:
                if (
                    not isinstance(point, list)
                    or len(point) < 2
                    or not all(isinstance(c, int | float) and not isinstance(c, bool) for c in point[:2])
                    or not (-180 <= point[0] <= 180 and -90 <= point[1] <= 90)
                ):
                    raise InvalidBoundary(str(point)[:40])
            rings.append(ring)
    if sum(len(r) for r in rings) > MAX_GEOJSON_POINTS:
        raise InvalidBoundary("too many points")
    return rings


def parse_geojson(text: str) -> dict[str, Any] | None:
    import json

    text = text.strip()
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise InvalidBoundary("not JSON") from exc
    if not isinstance(value, dict):
        raise InvalidBoundary("not an object")
    _rings(value)
    return value


def boundary_svg_paths(geojson: dict[str, Any] | None, size: int = 240, margin: int = 8) -> list[str]:
    """SVG path data for the outline, scaled into a ``size``×``size`` box (north up, aspect kept)."""
    if not geojson:
        return []
    rings = _rings(geojson)
    xs = [p[0] for r in rings for p in r]
    ys = [p[1] for r in rings for p in r]
    span = max(max(xs) - min(xs), max(ys) - min(ys)) or 1.0
    scale = (size - 2 * margin) / span
    paths = []
    for ring in rings:
        points = [f"{margin + (p[0] - min(xs)) * scale:.1f},{margin + (max(ys) - p[1]) * scale:.1f}" for p in ring]
        paths.append("M" + " L".join(points) + " Z")
    return paths


def _date(text: str) -> date | None:
    text = text.strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise InvalidParcel(text) from exc


async def _clean(data: ParcelInput) -> dict[str, Any]:
    if data.district_code not in DISTRICTS:
        raise InvalidParcel(data.district_code)
    try:
        area = Decimal(data.area_mu.strip())
    except InvalidOperation as exc:
        raise InvalidParcel(data.area_mu) from exc
    if not area.is_finite() or area <= 0 or area != area.quantize(Decimal("0.0001")) or area >= 10**10:
        raise InvalidParcel(data.area_mu)
    owner = None
    if data.owner_id.strip():
        if not data.owner_id.strip().isdigit():
            raise InvalidParcel(data.owner_id)
        owner = await Holder.get_or_none(id=int(data.owner_id))
        if owner is None:
            raise InvalidParcel(data.owner_id)
    values: dict[str, Any] = {
        "district_code": data.district_code,
        "area_mu": area,
        "owner": owner,
        "species": parse_species(data.species),
        "boundary_geojson": parse_geojson(data.boundary_geojson),
        "afforested_on": _date(data.afforested_on),
        "accepted_on": _date(data.accepted_on),
    }
    for name in ("township", "village", "forest_right_cert_no"):
        values[name] = getattr(data, name).strip()[:100]
    for name in ("boundary_east", "boundary_south", "boundary_west", "boundary_north"):
        values[name] = getattr(data, name).strip()[:200]
    return values


async def create_parcel(data: ParcelInput, *, actor: audit.Actor) -> Parcel:
    access.check(actor, access.Action.PARCEL_EDIT, access.place(data.district_code))  # a parcel of one's district
    async with in_transaction():
        values = await _clean(data)
        parcel = await Parcel.create(**values)
        await audit.record(actor, "parcel.create", f"parcel:{parcel.id}", district=parcel.district_code)
    return parcel


async def update_parcel(parcel: Parcel, data: ParcelInput, *, actor: audit.Actor) -> Parcel:
    access.check(actor, access.Action.PARCEL_EDIT, access.parcel_target(parcel))
    access.check(actor, access.Action.PARCEL_EDIT, access.place(data.district_code))  # nor moved to another
    async with in_transaction():
        values = await _clean(data)
        previous = {k: str(getattr(parcel, k if k != "owner" else "owner_id")) for k in values}
        for key, value in values.items():
            setattr(parcel, key, value)
        await parcel.save()
        changed = sorted(
            k for k, v in values.items() if previous[k] != str(getattr(parcel, k if k != "owner" else "owner_id"))
        )
        await audit.record(actor, "parcel.update", f"parcel:{parcel.id}", changed=changed, before=previous)
    return parcel


def sniff(content: bytes) -> tuple[str, str]:
    """The (content type, extension) the bytes really are, or :class:`InvalidDocument`."""
    for magic, kind in DOCUMENT_TYPES.items():
        if content.startswith(magic):
            return kind
    raise InvalidDocument("type")


def document_dir(data_dir: Path) -> Path:
    return data_dir / "parcel-documents"


async def attach_document(
    parcel: Parcel, *, title: str, filename: str, content: bytes, data_dir: Path, actor: audit.Actor
) -> ParcelDocument:
    """Check and store an uploaded document; the file is written before the row, and removed if the row fails."""
    access.check(actor, access.Action.PARCEL_EDIT, access.parcel_target(parcel))
    if not content or len(content) > MAX_DOCUMENT_BYTES:
        raise InvalidDocument("size")
    content_type, extension = sniff(content)
    storage_name = f"{parcel.id}-{secrets.token_hex(16)}.{extension}"
    directory = document_dir(data_dir)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / storage_name
    path.write_bytes(content)
    try:
        async with in_transaction():
            document = await ParcelDocument.create(
                parcel=parcel,
                title=(title.strip() or filename)[:200],
                filename=Path(filename).name[:200] or "-",
                content_type=content_type,
                size=len(content),
                sha256=hashlib.sha256(content).hexdigest(),
                storage_name=storage_name,
                uploaded_by=actor.username,
            )
            await audit.record(
                actor, "parcel.document", f"parcel:{parcel.id}", document=document.id, sha256=document.sha256
            )
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return document


def document_path(document: ParcelDocument, data_dir: Path) -> Path:
    return document_dir(data_dir) / document.storage_name


def served_type(path: Path) -> str:
    """The type the stored bytes really are (checked again when served); unknown bytes are only octets."""
    with path.open("rb") as handle:
        head = handle.read(16)
    try:
        return sniff(head)[0]
    except InvalidDocument:
        return "application/octet-stream"


def download_name(document: ParcelDocument, content_type: str) -> str:
    """The uploaded name, safe to offer for saving: no control, format (bidi, zero-width) or unassigned
    characters, no quotes, separators or semicolons, and the extension of the type the bytes are."""
    cleaned = "".join(
        c
        for c in unicodedata.normalize("NFC", document.filename)
        if not unicodedata.category(c).startswith("C") and c not in '"\\/;:*?<>|'
    )
    stem = Path(cleaned).stem.strip(" .")[:100] or f"document-{document.id}"
    extension = next((ext for kind, ext in DOCUMENT_TYPES.values() if kind == content_type), "bin")
    return f"{stem}.{extension}"


async def record_download(document: ParcelDocument, actor: audit.Actor) -> None:
    """Every download of a parcel document leaves an audit line: who, from where, which document. Only an
    account that may read the parcel downloads it."""
    parcel = await Parcel.get(id=document.parcel_id)
    access.check(actor, access.Action.PARCEL_READ, access.parcel_target(parcel))
    await audit.record(
        actor,
        "parcel.document.download",
        f"parcel:{document.parcel_id}",
        document=document.id,
        sha256=document.sha256,
    )
