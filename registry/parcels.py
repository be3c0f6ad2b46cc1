"""Forest parcels (林地小班): their particulars, boundary outline and attached documents.

Documents (PDF/JPEG/PNG) are checked by their first bytes, not by the name or type the browser claims — images
are decoded in full as that format (:mod:`registry.photos`) — and kept in the file storage
(:mod:`registry.storage`: the data directory, outside ``static/``, or object storage), named by a random id.
Forestry may publish a document (:func:`publish_document`): a photo then shows on ``/forests/{batch}`` as a new,
metadata-free rendition, a PDF as a link; nothing unpublished is ever served to the public.
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

from kernel import clock
from registry import access, audit, cpu, photos
from registry.districts import DISTRICTS
from registry.errors import RegisterError
from registry.models import Holder, Parcel
from registry.storage import Storage

MAX_DOCUMENT_BYTES = 10 * 1024 * 1024
MAX_SPECIES = 50
MAX_GEOJSON_POINTS = 5000
DOCUMENT_TYPES = {  # magic bytes → (content type, extension)
    b"%PDF-": ("application/pdf", "pdf"),
    b"\xff\xd8\xff": ("image/jpeg", "jpg"),
    b"\x89PNG\r\n\x1a\n": ("image/png", "png"),
}


class ParcelDocument(Model):
    """A document attached to a parcel (林权证, 验收报告, 协议…), kept in the file storage outside ``static/``."""

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
    # Published by forestry for /forests (公开): a photo's public renditions are new files (storage keys), made
    # when it is published and removed when it is withdrawn; a PDF is served as uploaded.
    public = fields.BooleanField(default=False)
    published_at = fields.DatetimeField(null=True)
    published_by = fields.CharField(max_length=64, default="")
    public_image = fields.CharField(max_length=120, default="")
    public_thumb = fields.CharField(max_length=120, default="")
    thumb_width = fields.IntField(default=0)
    thumb_height = fields.IntField(default=0)

    class Meta:
        table = "parcel_document"

    @property
    def is_photo(self) -> bool:
        return self.content_type in photos.FORMATS


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


DOCUMENT_FOLDER = "parcel-documents"
PUBLIC_FOLDER = "public/parcel-photos"


def document_key(document: ParcelDocument) -> str:
    """The document's key in the file storage (the uploaded bytes, never served to the public for a photo)."""
    return f"{DOCUMENT_FOLDER}/{document.storage_name}"


async def attach_document(
    parcel: Parcel, *, title: str, filename: str, content: bytes, storage: Storage, actor: audit.Actor
) -> ParcelDocument:
    """Check and store an uploaded document; the file is written before the row, and removed if the row fails.
    The caller reads at most ``MAX_DOCUMENT_BYTES + 1`` bytes of the upload."""
    access.check(actor, access.Action.PARCEL_EDIT, access.parcel_target(parcel))
    if not content or len(content) > MAX_DOCUMENT_BYTES:
        raise InvalidDocument("size")
    content_type, extension = sniff(content)
    if content_type in photos.FORMATS:
        await cpu.file_work(photos.check_image, content, content_type)  # hostile bytes: decoded off the loop
    storage_name = f"{parcel.id}-{secrets.token_hex(16)}.{extension}"
    key = f"{DOCUMENT_FOLDER}/{storage_name}"
    await storage.put(key, content, content_type=content_type)
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
        await storage.delete(key)
        raise
    return document


def served_type(head: bytes) -> str:
    """The type the stored bytes really are (checked again when served, from their first bytes); unknown bytes
    are only octets."""
    try:
        return sniff(head[:16])[0]
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


# --- publishing (公开) ------------------------------------------------------------------------------------------


class DocumentMissing(RegisterError):
    code = "document_missing"
    message = "附件文件已不在存储中，无法公开"
    http_status = 409


async def publish_document(document: ParcelDocument, *, storage: Storage, actor: audit.Actor) -> ParcelDocument:
    """Show the document on ``/forests`` of every batch standing on its parcel. A photo is shown as new files
    (:func:`registry.photos.renditions`, made off the event loop and written before the row says so); a PDF as
    uploaded. Asked of :mod:`registry.access` (forestry of the parcel's district) and audited."""
    parcel = await Parcel.get(id=document.parcel_id)
    access.check(actor, access.Action.DOCUMENT_PUBLISH, access.parcel_target(parcel))
    if document.public:
        return document
    made: list[str] = []
    values: dict[str, Any] = {"public_image": "", "public_thumb": "", "thumb_width": 0, "thumb_height": 0}
    if document.is_photo:
        content = await storage.get(document_key(document))
        if content is None:
            raise DocumentMissing(str(document.id))
        shown = await cpu.file_work(photos.renditions, content, document.content_type)
        stem = f"{PUBLIC_FOLDER}/{document.id}-{secrets.token_hex(12)}"
        extension = "png" if shown.content_type == "image/png" else "jpg"
        for key, body in ((f"{stem}.{extension}", shown.image), (f"{stem}-thumb.{extension}", shown.thumbnail)):
            await storage.put(key, body, content_type=shown.content_type)
            made.append(key)
        values = {
            "public_image": made[0],
            "public_thumb": made[1],
            "thumb_width": shown.thumb_size[0],
            "thumb_height": shown.thumb_size[1],
        }
    elif not await storage.exists(document_key(document)):
        raise DocumentMissing(str(document.id))
    try:
        async with in_transaction():
            updated = await ParcelDocument.filter(id=document.id, public=False).update(
                public=True, published_at=clock.now(), published_by=actor.username, **values
            )
            if updated:
                await audit.record(
                    actor, "parcel.document.publish", f"parcel:{parcel.id}", document=document.id, title=document.title
                )
    except BaseException:
        for key in made:
            await storage.delete(key)
        raise
    if not updated:  # published meanwhile by someone else: ours are not needed
        for key in made:
            await storage.delete(key)
    await document.refresh_from_db()
    return document


async def withdraw_document(document: ParcelDocument, *, storage: Storage, actor: audit.Actor) -> ParcelDocument:
    """Take the document off ``/forests``: from the next request on it is not served publicly, and a photo's
    public renditions are deleted. Audited; the uploaded document stays in the back-office."""
    parcel = await Parcel.get(id=document.parcel_id)
    access.check(actor, access.Action.DOCUMENT_PUBLISH, access.parcel_target(parcel))
    if not document.public:
        return document
    shown = [key for key in (document.public_image, document.public_thumb) if key]
    async with in_transaction():
        await ParcelDocument.filter(id=document.id).update(
            public=False, published_at=None, published_by="", public_image="", public_thumb="",
            thumb_width=0, thumb_height=0,
        )  # fmt: skip
        await audit.record(actor, "parcel.document.withdraw", f"parcel:{parcel.id}", document=document.id)
    for key in shown:
        await storage.delete(key)
    await document.refresh_from_db()
    return document


def public_name(document: ParcelDocument) -> str:
    """The name a published document is saved under: its title (what forestry published), never the uploaded
    file name, which may name a person."""
    cleaned = "".join(
        c
        for c in unicodedata.normalize("NFC", document.title)
        if not unicodedata.category(c).startswith("C") and c not in '"\\/;:*?<>|'
    )
    extension = next((ext for kind, ext in DOCUMENT_TYPES.values() if kind == document.content_type), "bin")
    return f"{cleaned.strip(' .')[:100] or f'document-{document.id}'}.{extension}"
