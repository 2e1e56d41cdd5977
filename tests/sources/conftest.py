"""Fixtures for the fetch-source tests (helpers live in mp_fake.py: a conftest cannot be imported by name)."""

from __future__ import annotations

from pathlib import Path

import pytest
from mp_fake import FIXTURES


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture()
def mp_params(tmp_path) -> dict:
    return {
        "data": {"source": "mp", "path": None, "max_sites": 20},
        "mp": {"cache_dir": str(tmp_path / "cache"), "energy_above_hull": 0.1, "limit": 0, "backoff_s": 0.0},
    }
