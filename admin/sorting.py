"""Sorting a back-office list by its columns (``?sort=name``, ``?sort=-name`` for descending).

A list names its sortable columns once, each as the model fields it orders by; the query parameter only ever
chooses one of those names, so what reaches the database is a field list written here, never the parameter. An
unknown, hostile or over-long ``sort`` is the list's default order. Every order ends with the id, so it is total
and keyset paging (:func:`admin.web.keyset_paginate`) stays exact. The column headers are
``admin/_sorting.html``'s ``th`` macro.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from starlette.requests import Request

T = TypeVar("T")


@dataclass(frozen=True)
class Sort:
    """The chosen column (``key``, ``-key`` when descending) and the ``order_by`` fields it stands for."""

    key: str
    order: tuple[str, ...]

    def direction(self, column: str) -> str:
        """``aria-sort`` of a column header: ascending, descending or none."""
        if self.key == column:
            return "ascending"
        return "descending" if self.key == f"-{column}" else "none"

    def flipped(self, column: str) -> str:
        """The ``sort`` of a click on a column's header: its other direction when it is the chosen one."""
        return f"-{column}" if self.key == column else column

    def arrange(self, rows: Iterable[T]) -> list[T]:
        """A short list read whole, put in this order in Python (``a__b`` follows a relation already fetched). An
        empty value (None) comes after every other ascending and before them descending, as in PostgreSQL, so both
        databases show the same order."""
        arranged = list(rows)
        for name in reversed(self.order):  # stable sorts, the last field first
            path = name.lstrip("-").split("__")

            def key(row: Any, path: list[str] = path) -> tuple[bool, Any]:
                value = row
                for part in path:
                    value = None if value is None else getattr(value, part)
                return (value is None, 0 if value is None else value)

            arranged.sort(key=key, reverse=name.startswith("-"))
        return arranged


@dataclass(frozen=True)
class Sorting:
    """The sortable columns of one list: key → the model fields of its ascending order (the id is added)."""

    columns: Mapping[str, tuple[str, ...]]
    default: str  # a key, ``-`` first for descending

    def __post_init__(self) -> None:
        if self.default.lstrip("-") not in self.columns:
            raise ValueError(self.default)

    def choose(self, text: str | None) -> Sort:
        key = text if text and text.lstrip("-") in self.columns and text.count("-") <= 1 else self.default
        fields = self.columns[key.lstrip("-")]
        fields = fields if fields[-1].lstrip("-") == "id" else (*fields, "id")
        if key.startswith("-"):
            fields = tuple(f[1:] if f.startswith("-") else f"-{f}" for f in fields)
        return Sort(key, fields)

    def of(self, request: Request) -> Sort:
        return self.choose(request.query_params.get("sort"))
