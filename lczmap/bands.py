"""Named band sets of So2Sat LCZ42 and their physical meaning.

A band set picks channels of ``sen1`` (Sentinel-1, SAR) or ``sen2`` (Sentinel-2, EO). Each
channel carries a :class:`Channel` description (polarisation, quantity, unit) that travels in
checkpoints, so that ``lczmap predict`` can map a scene's bands onto what a model was trained on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

from .errors import ConfigError

__all__ = [
    "Channel",
    "BandSet",
    "EO_BAND_SETS",
    "SAR_BAND_SETS",
    "band_set",
    "SEN1_CHANNELS",
    "SEN2_CHANNELS",
    "Units",
    "UNITS",
    "Backscatter",
    "BACKSCATTER",
]

#: Units of a SAR intensity band as a file stores it: linear power, amplitude (the square root of
#: power) or decibels (10 log10 of power).
Units = Literal["linear", "amplitude", "db"]
UNITS: tuple[Units, ...] = ("linear", "amplitude", "db")

#: What a backscatter value is normalised by: sigma0 (ground area, what So2Sat holds), gamma0 (area
#: perpendicular to the look direction; RTC products) or beta0 (slant-range area).
Backscatter = Literal["sigma0", "gamma0", "beta0"]
BACKSCATTER: tuple[Backscatter, ...] = ("sigma0", "gamma0", "beta0")

Quantity = Literal[
    "complex_real",  # real part of single-look complex amplitude (unfiltered)
    "complex_imag",  # imaginary part of single-look complex amplitude (unfiltered)
    "intensity",  # backscatter intensity, linear power (Lee-filtered in So2Sat)
    "covariance_real",  # real part of the VV-VH covariance off-diagonal (Lee-filtered)
    "covariance_imag",  # imaginary part of the VV-VH covariance off-diagonal (Lee-filtered)
    "reflectance",  # surface reflectance, fraction (So2Sat stores reflectance / 10000)
]


@dataclass(frozen=True)
class Channel:
    """One input channel: ``name`` (e.g. 'VV real'), polarisation or S2 band, quantity, unit."""

    name: str
    band: str  # 'VV', 'VH', 'VVVH' for SAR; 'B2'... for EO
    quantity: Quantity
    unit: str

    def to_dict(self) -> dict:
        return asdict(self)


#: sen1 channels in So2Sat order (0-based).
SEN1_CHANNELS: tuple[Channel, ...] = (
    Channel("VH real", "VH", "complex_real", "amplitude, linear"),
    Channel("VH imag", "VH", "complex_imag", "amplitude, linear"),
    Channel("VV real", "VV", "complex_real", "amplitude, linear"),
    Channel("VV imag", "VV", "complex_imag", "amplitude, linear"),
    Channel("VH intensity", "VH", "intensity", "power, linear"),
    Channel("VV intensity", "VV", "intensity", "power, linear"),
    Channel("VV-VH covariance real", "VVVH", "covariance_real", "power, linear"),
    Channel("VV-VH covariance imag", "VVVH", "covariance_imag", "power, linear"),
)

#: sen2 bands in So2Sat order (0-based).
SEN2_CHANNELS: tuple[Channel, ...] = tuple(
    Channel(b, b, "reflectance", "reflectance fraction") for b in ("B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B11", "B12")
)


@dataclass(frozen=True)
class BandSet:
    """A named selection of channels from one So2Sat key (``sen1`` or ``sen2``)."""

    name: str
    key: Literal["sen1", "sen2"]
    indices: tuple[int, ...]
    description: str

    @property
    def channels(self) -> tuple[Channel, ...]:
        table = SEN1_CHANNELS if self.key == "sen1" else SEN2_CHANNELS
        return tuple(table[i] for i in self.indices)

    @property
    def n_channels(self) -> int:
        return len(self.indices)

    @property
    def modality(self) -> Literal["sar", "eo"]:
        return "sar" if self.key == "sen1" else "eo"

    def to_dict(self) -> dict:
        """JSON-able description, as stored in checkpoints and caches."""
        return {
            "name": self.name,
            "key": self.key,
            "indices": list(self.indices),
            "description": self.description,
            "channels": [c.to_dict() for c in self.channels],
        }


EO_BAND_SETS: dict[str, BandSet] = {
    "rgb": BandSet("rgb", "sen2", (2, 1, 0), "Sentinel-2 B4, B3, B2 (red, green, blue): the paper's EO input"),
    "s2-all": BandSet("s2-all", "sen2", tuple(range(10)), "all ten Sentinel-2 bands of So2Sat"),
}

SAR_BAND_SETS: dict[str, BandSet] = {
    "vv-complex": BandSet("vv-complex", "sen1", (2, 3), "real and imaginary parts of unfiltered VV: the paper's SAR input"),
    "dual-complex": BandSet("dual-complex", "sen1", (0, 1, 2, 3), "real and imaginary parts of VH and VV"),
    "lee-intensity": BandSet(
        "lee-intensity",
        "sen1",
        (4, 5),
        "Lee-filtered VH and VV intensity (linear power): what a GRD/RTC scene can supply",
    ),
    "vv-intensity": BandSet(
        "vv-intensity", "sen1", (5,), "Lee-filtered VV intensity (linear power): for single-polarisation VV scenes"
    ),
    "vh-intensity": BandSet(
        "vh-intensity", "sen1", (4,), "Lee-filtered VH intensity (linear power): for single-polarisation VH scenes"
    ),
    "s1-all": BandSet("s1-all", "sen1", tuple(range(8)), "all eight Sentinel-1 channels of So2Sat"),
}


def band_set(name: str, modality: Literal["eo", "sar"] | None = None) -> BandSet:
    """Look up a band set by name, optionally restricted to one modality."""
    tables = {"eo": EO_BAND_SETS, "sar": SAR_BAND_SETS}
    pools = [tables[modality]] if modality else [EO_BAND_SETS, SAR_BAND_SETS]
    for pool in pools:
        if name in pool:
            return pool[name]
    choices = ", ".join(n for pool in pools for n in pool)
    kind = {"eo": "EO ", "sar": "SAR "}.get(modality or "", "")
    raise ConfigError(f"unknown {kind}band set {name!r}: choose one of {choices}")
