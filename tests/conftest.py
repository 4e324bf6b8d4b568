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
def vhf_feet(shared_data: Path) -> Path:
    """The real CT of both feet (``../shared/data/vhf_feet``), or skip."""
    folder = shared_data / "vhf_feet"
    if not folder.is_dir():
        pytest.skip(f"real foot CT not available at {folder}")
    return folder


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """The repository's ``fixtures/`` folder, or skip."""
    if not (FIXTURES / "dcm_qa_ts").is_dir():
        pytest.skip(f"fixtures not available at {FIXTURES}")
    return FIXTURES


@pytest.fixture(scope="session")
def gdcmconv() -> str:
    """Path of Debian's gdcmconv (libgdcm-tools), or skip."""
    # Debian's tool first: the python-gdcm wheel puts its own gdcmconv on the venv's PATH,
    # and that build writes --deflated files as implicit little endian
    debian = Path("/usr/bin/gdcmconv")
    exe = str(debian) if debian.is_file() else shutil.which("gdcmconv")
    if exe is None:
        pytest.skip("gdcmconv not installed (apt-get install libgdcm-tools)")
    return exe


# ----------------------------------------------------------------------------- phantoms
# Generated once per test session and shared: making one (with its truth) takes ~20 s.
@pytest.fixture(scope="session")
def phantom_bilateral(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """A bilateral small phantom, large wound on the right hallux, foot rest: (study, folder)."""
    from bonecover.phantom import PhantomConfig, make_phantom, write_phantom

    study = make_phantom(PhantomConfig(seed=31, defect="large", foot_rest=True))
    out = tmp_path_factory.mktemp("phantom_bilateral")
    write_phantom(study, out)
    return study, out


@pytest.fixture(scope="session")
def phantom_separate(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """One series per foot, small wound on the left hallux, no foot rest: (study, folder)."""
    from bonecover.phantom import PhantomConfig, make_phantom, write_phantom

    study = make_phantom(PhantomConfig(seed=52, layout="separate", affected="left", defect="small",
                                       foot_rest=False))
    out = tmp_path_factory.mktemp("phantom_separate")
    write_phantom(study, out)
    return study, out


@pytest.fixture(scope="session")
def report_bilateral(phantom_bilateral):  # noqa: ANN001, ANN201
    """``bonecover.pipeline.compare`` on ``phantom_bilateral`` (a Report, stage outputs
    included), computed once per session for the figure and HTML tests."""
    from bonecover.pipeline import CompareOptions, compare

    _, folder = phantom_bilateral
    return compare(folder / "ct", options=CompareOptions(affected_side="right"))


@pytest.fixture(scope="session")
def figure_run(report_bilateral, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN001, ANN201
    """The outputs ``bonecover compare`` writes, for the bilateral phantom: (folder, document, seconds)."""
    import time

    from bonecover.figures import draw_figures
    from bonecover.io.report_write import write_outputs

    out = tmp_path_factory.mktemp("figure_run") / "result"
    t0 = time.perf_counter()
    doc, error = write_outputs(report_bilateral.document, out, draw=lambda: draw_figures(report_bilateral))
    assert error is None
    return out, doc, time.perf_counter() - t0
