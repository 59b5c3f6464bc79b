"""Tests of the o365 integration."""
