"""Local Climate Zone classes (Stewart & Oke 2012) and lczmap's class settings.

Codes follow the global LCZ map (Demuzere et al. 2022): 1-10 built types, 11-17 for LCZ A-G.
So2Sat LCZ42 label index ``i`` (0-16) is LCZ code ``i + 1``. Colours are the WUDAPT palette.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from .errors import ConfigError

__all__ = [
    "LCZClass",
    "LCZ_CLASSES",
    "CODES",
    "ClassSetting",
    "CLASS_SETTINGS",
    "class_codes",
    "lcz",
    "label_of",
    "name_of",
    "colour_of",
    "hex_to_rgb",
    "parse_code",
    "NODATA",
    "Coding",
    "CODINGS",
    "coded_value",
]

#: Value used for "no class" in lczmap's LCZ rasters.
NODATA = 0

Coding = Literal["1-17", "101-107"]
#: How an LCZ raster codes LCZ A-G: 11-17 (lczmap, the global LCZ map) or 101-107 (the LCZ
#: Generator's training areas, GeoClimate, UMEP's LCZ converter). LCZ 1-10 are 1-10 in both.
CODINGS: tuple[str, ...] = get_args(Coding)


@dataclass(frozen=True)
class LCZClass:
    """One Local Climate Zone: ``code`` 1-17, ``label`` '1'-'10' or 'A'-'G', name and colour."""

    code: int
    label: str
    name: str
    colour: str  # '#rrggbb'

    @property
    def rgb(self) -> tuple[int, int, int]:
        return hex_to_rgb(self.colour)

    @property
    def title(self) -> str:
        """'LCZ 6 Open low-rise': how legends, category names and band descriptions name it."""
        return f"LCZ {self.label} {self.name}"


_TABLE = [
    (1, "1", "Compact high-rise", "#8c0000"),
    (2, "2", "Compact mid-rise", "#d10000"),
    (3, "3", "Compact low-rise", "#ff0000"),
    (4, "4", "Open high-rise", "#bf4d00"),
    (5, "5", "Open mid-rise", "#ff6600"),
    (6, "6", "Open low-rise", "#ff9955"),
    (7, "7", "Lightweight low-rise", "#faee05"),
    (8, "8", "Large low-rise", "#bcbcbc"),
    (9, "9", "Sparsely built", "#ffccaa"),
    (10, "10", "Heavy industry", "#555555"),
    (11, "A", "Dense trees", "#006a00"),
    (12, "B", "Scattered trees", "#00aa00"),
    (13, "C", "Bush, scrub", "#648525"),
    (14, "D", "Low plants", "#b9db79"),
    (15, "E", "Bare rock or paved", "#000000"),
    (16, "F", "Bare soil or sand", "#fbf7ae"),
    (17, "G", "Water", "#6a6aff"),
]

#: All 17 classes, in code order.
LCZ_CLASSES: tuple[LCZClass, ...] = tuple(LCZClass(*row) for row in _TABLE)
_BY_CODE = {c.code: c for c in LCZ_CLASSES}
_BY_LABEL = {c.label: c for c in LCZ_CLASSES}

#: All LCZ codes, 1-17.
CODES: tuple[int, ...] = tuple(c.code for c in LCZ_CLASSES)

ClassSetting = Literal["lowrise", "urban", "all"]

#: The study's class settings as LCZ codes. ``lowrise`` holds the four classes named
#: "low-rise" (LCZ 3, 6, 7, 8), inferred from the class names (the paper does not list them).
CLASS_SETTINGS: dict[str, tuple[int, ...]] = {
    "lowrise": (3, 6, 7, 8),
    "urban": tuple(range(1, 11)),
    "all": CODES,
}


def class_codes(setting: str) -> tuple[int, ...]:
    """LCZ codes of a class setting (``lowrise``, ``urban`` or ``all``), in output-index order."""
    try:
        return CLASS_SETTINGS[setting]
    except KeyError:
        raise ConfigError(f"unknown class setting {setting!r}: choose one of {', '.join(get_args(ClassSetting))}") from None


def lcz(code_or_label: int | str) -> LCZClass:
    """The class for a code (1-17) or a label ('1'-'10', 'A'-'G', case-insensitive)."""
    return _BY_CODE[parse_code(code_or_label)]


def parse_code(value: int | str) -> int:
    """Normalise an LCZ code or label to its code 1-17; raise :class:`ConfigError` otherwise."""
    if isinstance(value, str):
        text = value.strip().upper()
        if text in _BY_LABEL:
            return _BY_LABEL[text].code
        if text.isdigit() and int(text) in _BY_CODE:
            return int(text)
    elif int(value) in _BY_CODE and int(value) == value:
        return int(value)
    raise ConfigError(f"{value!r} is not an LCZ code: use 1-17 or the labels 1-10, A-G")


def label_of(code: int) -> str:
    return _BY_CODE[code].label


def name_of(code: int) -> str:
    return _BY_CODE[code].name


def colour_of(code: int) -> str:
    return _BY_CODE[code].colour


def hex_to_rgb(colour: str) -> tuple[int, int, int]:
    """'#rrggbb' -> (r, g, b)."""
    text = colour.lstrip("#")
    return int(text[0:2], 16), int(text[2:4], 16), int(text[4:6], 16)


def coded_value(code: int, coding: str = "1-17") -> int:
    """The pixel value of LCZ ``code`` (1-17) in ``coding`` (:data:`CODINGS`): A-G are 101-107
    in ``"101-107"``. Raises :class:`~lczmap.errors.ConfigError` for an unknown coding."""
    if coding not in CODINGS:
        raise ConfigError(f"unknown LCZ coding {coding!r} (--codes): choose one of {', '.join(CODINGS)}")
    return code + 90 if coding == "101-107" and code > 10 else code
