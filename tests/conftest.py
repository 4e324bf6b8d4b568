"""Shared fixtures of the loader tests: data locations and small synthetic series."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "fixtures"
#: Real DICOM shared beside the repository (CI: ../shared/data); optional.
SHARED_DATA = REPO.parent / "shared" / "data"

sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` relative to the repository, or skip."""
    if not (SHARED_DATA / "dcm_qa_ct").is_dir():
        pytest.skip(f"real DICOM not available at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """The repository's ``fixtures/`` folder, or skip."""
    if not (FIXTURES / "dcm_qa_ts").is_dir():
        pytest.skip(f"fixtures not available at {FIXTURES}")
    return FIXTURES


@pytest.fixture(scope="session")
def gdcmconv() -> str:
    """Path of Debian's gdcmconv (libgdcm-tools), or skip."""
    exe = shutil.which("gdcmconv")
    if exe is None:
        pytest.skip("gdcmconv not installed (apt-get install libgdcm-tools)")
    return exe
