"""All file input and output of bonecover lives in this package.

Public loading API (see each module for details):

- :func:`discover` -- header-only scan of a file or folder into an :class:`Inventory`.
- :func:`load_ct` -- one CT series (or NIfTI/NRRD/MHA volume) as a ``LoadedCT``.
- :func:`load_radiograph` -- one DX/CR radiograph as a ``LoadedRadiograph``.
"""

from __future__ import annotations

from bonecover.io.ct_loader import LoadedCT, SeriesInfo, load_ct
from bonecover.io.dicom_discovery import (
    Choice,
    Inventory,
    PatientIdentity,
    SeriesEntry,
    SeriesKind,
    discover,
    scan_input,
)
from bonecover.io.radiograph_loader import LoadedRadiograph, RadiographInfo, load_radiograph

__all__ = [
    "Choice",
    "Inventory",
    "LoadedCT",
    "LoadedRadiograph",
    "PatientIdentity",
    "RadiographInfo",
    "SeriesEntry",
    "SeriesInfo",
    "SeriesKind",
    "discover",
    "load_ct",
    "load_radiograph",
    "scan_input",
]
