"""What the register reads of the tree-planting duty (义务植树尽责), answered by the planting package.

Tree-planting money is a donation to the receiving body the year's rule names, not carbon revenue, so the
register's reports keep it apart (:mod:`registry.finance`, :mod:`registry.stock`), the payment receipt names its
body and payer (:mod:`registry.receipts`) and /impact counts the duty fulfilled (:mod:`registry.forests`). The
rules, purchases and rosters those figures come from live in ``planting/``, above the register: the register
imports nothing of it. Instead planting registers a :class:`PlantingBook` when its models are imported — which
every start does, since the ORM loads them (``linpiao/db.py: MODEL_MODULES``) — and the register asks the book.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

PLANTING_PURPOSE = "planting"  # Order.purpose of the tree-planting duty's orders


@dataclass(frozen=True)
class PlantingYear:
    year: int
    people: int  # people whose year's duty is fulfilled (fulfilment certificates still standing)
    people_own: int  # … by their own purchase
    people_by_organisation: int  # … on an organisation's roster
    organisations: int  # organisations that paid for a roster this year
    trees: int  # trees counted this year, duty and beyond


@dataclass(frozen=True)
class PlantingBook:
    """The planting package's answers to the register."""

    # the purchases of these orders as (order id, receiving body of the purchase's rule, the rule's year)
    receiving_bodies: Callable[[Sequence[int]], Awaitable[list[tuple[int, str, int]]]]
    # a SQL sub-query giving each planting order's receiving body, as columns ``order_id`` and ``body``
    receiving_bodies_sql: str
    # the credit code of the organisation that paid a roster (its submission's id), "" when none is found
    payer_code: Callable[[int], Awaitable[str]]
    # the duty fulfilled in a year, as /impact shows it
    year: Callable[[int], Awaitable[PlantingYear]]


_books: list[PlantingBook] = []


def register(book: PlantingBook) -> None:
    """Planting's book, registered once when its models are imported (a second registration replaces the first)."""
    _books[:] = [book]


def book() -> PlantingBook:
    if not _books:
        raise RuntimeError("the planting package is not loaded: start through linpiao/, which imports it")
    return _books[0]
