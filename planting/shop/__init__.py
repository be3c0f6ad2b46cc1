"""The tree-planting duty's shop: a citizen's purchase, an organisation's roster, its payments, jobs and report.

Importing any of it registers the tree-planting order purpose (:mod:`shop.purposes`), which the shop's settlement
and its expiry job dispatch to without importing planting: the app mounts these pages, the worker loads these
jobs, and ``linpiao reconcile`` imports this package."""

from planting.shop import orders  # noqa: F401  (registers the order purpose)
