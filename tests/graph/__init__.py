"""Tests of the Graph client (no Home Assistant)."""
