"""Tests for spiders/ and the demo site (mirrors the package layout)."""
