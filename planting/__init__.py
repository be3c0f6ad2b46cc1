"""Obligatory tree planting (义务植树尽责): its rules and records (domain), shop pages and back-office pages."""
