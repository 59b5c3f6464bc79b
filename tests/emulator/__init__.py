"""Tests of the local Graph emulator."""
