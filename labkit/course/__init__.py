"""Instructor tooling (kept apart from what the lessons import)."""
