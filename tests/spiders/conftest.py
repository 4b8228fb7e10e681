"""Shared paths for spider tests. Real saved pages are optional: tests using them skip."""

from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "banki_ru"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "banki_ru"


@pytest.fixture
def fixture_bytes():
    def read(name: str) -> bytes:
        return (FIXTURES / name).read_bytes()

    return read


@pytest.fixture
def shared_bytes():
    def read(name: str) -> bytes:
        path = SHARED / name
        if not path.exists():
            pytest.skip(f"shared fixture {path} not present")
        return path.read_bytes()

    return read
