"""Shared fixtures: the real PE samples (see samples.py for their provenance)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from samples import all_samples
from signing import Chains, make_chains

_SAMPLES: dict[str, Path] | None = None


def samples() -> dict[str, Path]:
    """Fetched or built once per session, at collection time (cached on disk)."""
    global _SAMPLES  # noqa: PLW0603
    if _SAMPLES is None:
        _SAMPLES = all_samples()
    return _SAMPLES


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "sample" in metafunc.fixturenames:
        items = sorted(samples().items())
        metafunc.parametrize("sample", [p for _, p in items], ids=[n for n, _ in items])


@pytest.fixture(scope="session")
def sample_files() -> dict[str, Path]:
    return samples()


@pytest.fixture(scope="session")
def chains() -> Chains:
    """Certificate chains made for this session (tests/signing.py)."""
    return make_chains()
