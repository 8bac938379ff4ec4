"""A Sentinel-1 SAFE product as an archive: where its files are (a ``.SAFE`` folder or its
``.zip``), what its ``manifest.safe`` says (mission, mode, product type, orbit, acquisition,
polarisations, IPF version, and which file holds which annotation, calibration, noise or
measurement), the checks every SAFE reader makes before reading, and the first lines of the
``conversions`` a SAFE scene carries.

The manifest is read with ElementTree and xarray-sentinel's public helpers (``findtext``,
``findall``, ``parse_annotation_filename``), with the checks xarray-sentinel's
``parse_manifest_sentinel1`` makes."""

from __future__ import annotations

import dataclasses
import io
import os
import posixpath
import re
import zipfile
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Literal
from xml.etree import ElementTree

import numpy as np

from ...errors import SceneError

if TYPE_CHECKING:
    import fsspec

__all__ = [
    "is_safe",
    "Location",
    "locate",
    "OUTSIDE",
    "Manifest",
    "ManifestFile",
    "FileKind",
    "read_manifest",
    "check_polarisations",
    "check_measurements",
    "measurement_error",
    "header",
    "SUPPORTED_MODES",
    "SUPPORTED_TYPES",
    "SAFE_NAME",
    "MAPS",
]

#: Acquisition modes and product types lczmap maps.
SUPPORTED_MODES = ("IW",)
SUPPORTED_TYPES = ("GRD", "SLC")
#: A SAFE product's name: mode and product type.
SAFE_NAME = re.compile(r"^S1[ABCD]_(IW|EW|SM|WV|S\d)_(GRD|SLC|OCN|RAW)", re.IGNORECASE)
#: What lczmap maps, for the refusals of what it does not.
MAPS = (
    "lczmap maps IW GRD products (GRDH/GRDM) only for intensity models and IW SLC products for complex "
    "models; EW, SM and WV modes are not supported"
)

FileKind = Literal["annotation", "calibration", "noise", "measurement"]
#: The manifest's representation IDs of the files lczmap reads, by kind.
_KINDS: dict[str, FileKind] = {
    "s1Level1ProductSchema": "annotation",
    "s1Level1CalibrationSchema": "calibration",
    "s1Level1NoiseSchema": "noise",
    "s1Level1MeasurementSchema": "measurement",
}


def is_safe(path: str) -> bool:
    """Whether ``path`` names a SAFE product: a folder holding ``manifest.safe`` (or named
    ``*.SAFE``), or a ``.zip`` file."""
    p = os.path.normpath(path)
    if os.path.isdir(p):
        return p.lower().endswith(".safe") or os.path.isfile(os.path.join(p, "manifest.safe"))
    return p.lower().endswith(".zip") or (p.lower().endswith(".safe") and not os.path.exists(p))


#: Why a path a product names is refused: it would make lczmap read beyond the product.
OUTSIDE = (
    "lczmap reads only files inside the product's own folder or zip: give an unchanged Sentinel-1 SAFE "
    "product (download it again)"
)


@dataclass(frozen=True)
class Location:
    """Where the product's files are: ``path`` (the .SAFE folder), or ``zip_path`` + ``member``
    (the .SAFE folder inside the zip)."""

    path: str
    zip_path: str | None
    member: str

    def fs(self) -> fsspec.AbstractFileSystem:
        """The fsspec file system the product's files are read through (a zip's or the local one)."""
        import fsspec

        if self.zip_path is None:
            return fsspec.filesystem("file")
        return fsspec.filesystem("zip", fo=self.zip_path)

    @property
    def root(self) -> str:
        """The .SAFE folder as the fsspec file system names it."""
        return self.path if self.zip_path is None else self.member

    def inside(self, href: str) -> str:
        """``href``, a path the product names (its manifest's ``fileLocation``), as a normalised
        POSIX path relative to the .SAFE folder, held inside the product: :class:`SceneError`
        naming it when it is absolute or a URL, climbs out with ``..``, or (in a folder) resolves
        through a symbolic link to a file outside the folder. The one check of every path a SAFE
        product makes lczmap read."""
        name = os.path.basename(os.path.normpath(self.path))
        text = href.replace("\\", "/")
        rel = posixpath.normpath(text) if text else ""
        why = None
        if not rel or rel == ".":
            why = "an empty path"
        elif re.match(r"^[a-z][a-z0-9+.-]*:", text, re.IGNORECASE):
            why = "a URL or a drive" if "://" in text or re.match(r"^[a-z]:", text, re.IGNORECASE) else "not a path"
        elif text.startswith("/"):
            why = "an absolute path"
        elif rel == ".." or rel.startswith("../"):
            why = "a path that climbs out of the product"
        elif self.zip_path is None:
            root = os.path.realpath(self.path)
            if os.path.commonpath([root, os.path.realpath(os.path.join(root, rel))]) != root:
                why = "a symbolic link to a file outside the product"
        if why is not None:
            raise SceneError(f"{name}: its manifest.safe names {href!r}, {why}: {OUTSIDE}")
        return rel

    def fs_path(self, href: str) -> str:
        """The fsspec path of a file the manifest lists as ``href`` (held inside the product)."""
        return f"{self.root}/{self.inside(href)}"

    def gdal(self, href: str) -> str:
        """The GDAL path of a file the manifest lists as ``href`` (``/vsizip/`` inside a zip; held
        inside the product)."""
        rel = self.inside(href)
        if self.zip_path is None:
            return os.path.join(self.path, rel)
        return f"/vsizip/{os.path.abspath(self.zip_path)}/{self.member}/{rel}"


def locate(path: str) -> Location:
    """Where the product ``path`` (a .SAFE folder or a .zip) keeps its files; refuses a folder
    without manifest, a corrupt zip and a zip that is not one SAFE product."""
    name = os.path.basename(os.path.normpath(path))
    if os.path.isdir(path):
        if not os.path.isfile(os.path.join(path, "manifest.safe")):
            raise SceneError(f"{name} has no manifest.safe: give the complete .SAFE folder of a Sentinel-1 product")
        return Location(os.path.normpath(path), None, "")
    if not os.path.isfile(path):
        raise SceneError(f"scene {path} does not exist: check the path")
    if not zipfile.is_zipfile(path):
        raise SceneError(f"{name} is not a readable zip file (corrupt or truncated): download the product again")
    try:
        with zipfile.ZipFile(path) as z:
            manifests = [n for n in z.namelist() if n.lower().endswith(".safe/manifest.safe")]
            bad = z.testzip() if os.path.getsize(path) < 64 * 2**20 else None
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise SceneError(f"{name} is not a readable zip file ({exc}): download the product again") from None
    if bad is not None:
        raise SceneError(f"{name} is corrupt ({bad} fails its checksum): download the product again")
    if len(manifests) != 1:
        raise SceneError(
            f"{name} holds {'no' if not manifests else 'more than one'} .SAFE/manifest.safe: "
            "give the zip of one Sentinel-1 SAFE product"
        )
    return Location(os.path.normpath(path), path, manifests[0].rsplit("/", 1)[0])


@dataclass(frozen=True)
class ManifestFile:
    """A file the manifest lists: its kind, sub-swath (``IW``, ``IW1``...) and polarisation, upper case."""

    kind: FileKind
    swath: str
    pol: str


@dataclass(frozen=True)
class Manifest:
    """What a ``manifest.safe`` says. ``files``: href -> the annotation, calibration, noise and
    measurement files it lists."""

    number: str  # the satellite: A, B, C, D
    mode: str
    swaths: tuple[str, ...]
    product_type: str
    orbit_number: int
    relative_orbit_number: int
    orbit_pass: str
    polarisations: tuple[str, ...]  # upper case
    start_time: str
    stop_time: str
    ipf: str  # the IPF version, "unknown" where the manifest does not say
    files: dict[str, ManifestFile]

    def href(self, kind: FileKind, pol: str, swath: str | None = None) -> str | None:
        """The file of ``kind`` and polarisation ``pol`` (of sub-swath ``swath``), or None."""
        for href, f in self.files.items():
            if f.kind == kind and f.pol == pol and (swath is None or f.swath == swath):
                return href
        return None


def _parse_manifest(f: IO[bytes]) -> Manifest:
    from xarray_sentinel.esa_safe import findall, findtext, parse_annotation_filename

    root = ElementTree.parse(f).getroot()
    family = findtext(root, ".//safe:platform/safe:familyName")
    if family != "SENTINEL-1":
        raise ValueError(f"family_name={family!r} not supported")
    orbit = findall(root, ".//safe:orbitNumber")
    if len(orbit) != 2 or orbit[0] != orbit[1]:
        raise ValueError(f"orbit_number={orbit!r} not supported")
    relative = findall(root, ".//safe:relativeOrbitNumber")
    if len(relative) != 2 or relative[0] != relative[1]:
        raise ValueError(f"relative_orbit_number={relative!r} not supported")
    orbit_pass = findtext(root, ".//s1:pass")
    if orbit_pass not in {"ASCENDING", "DESCENDING"}:
        raise ValueError(f"pass={orbit_pass} not supported")
    files = {}
    for obj in root.findall(".//dataObjectSection/dataObject"):
        location = obj.find(".//fileLocation")
        kind = _KINDS.get(obj.attrib.get("repID", ""))
        if location is None or kind is None:
            continue
        href = location.attrib["href"]
        try:
            _, swath, pol, _ = parse_annotation_filename(os.path.basename(href))
        except ValueError:
            continue
        files[href] = ManifestFile(kind, swath.upper(), pol.upper())
    ipf = "unknown"
    for software in root.iter("{http://www.esa.int/safe/sentinel-1.0}software"):
        version = software.attrib.get("version", "")
        if software.attrib.get("name") == "Sentinel-1 IPF" and re.fullmatch(r"[\d.]+", version):
            ipf = version
            break
    return Manifest(
        number=findtext(root, ".//safe:platform/safe:number"),
        mode=findtext(root, ".//s1sarl1:instrumentMode/s1sarl1:mode"),
        swaths=tuple(findall(root, ".//s1sarl1:instrumentMode/s1sarl1:swath")),
        product_type=findtext(root, ".//s1sarl1:productType"),
        orbit_number=int(orbit[0]),
        relative_orbit_number=int(relative[0]),
        orbit_pass=orbit_pass,
        polarisations=tuple(p.upper() for p in findall(root, ".//s1sarl1:transmitterReceiverPolarisation")),
        start_time=findtext(root, ".//safe:startTime"),
        stop_time=findtext(root, ".//safe:stopTime"),
        ipf=ipf,
        files=files,
    )


def read_manifest(loc: Location, fs: fsspec.AbstractFileSystem) -> Manifest:
    """The product's manifest; :class:`SceneError` when it cannot be read, or when a file it lists
    lies outside the product (:meth:`Location.inside`: every ``fileLocation``, also those lczmap
    does not read itself, since xarray-sentinel opens them from the manifest too). The files are
    keyed by their normalised paths inside the product."""
    path = loc.fs_path("manifest.safe")
    try:
        with fs.open(path) as f:
            data = f.read()
        manifest = _parse_manifest(io.BytesIO(data))
        hrefs = [e.attrib.get("href", "") for e in ElementTree.fromstring(data).iter("fileLocation")]
    except (ValueError, KeyError, ElementTree.ParseError) as exc:
        raise SceneError(
            f"{os.path.basename(loc.path)}: cannot read its manifest.safe ({exc}): give an unchanged Sentinel-1 SAFE product"
        ) from None
    for href in hrefs:
        loc.inside(href)
    return dataclasses.replace(manifest, files={loc.inside(h): f for h, f in manifest.files.items()})


def check_polarisations(name: str, pols: list[str], wanted: list[str]) -> None:
    """Refuse a product whose polarisations ``pols`` lack what the model needs (``wanted``)."""
    if set(pols) <= {"HH", "HV"} and set(wanted) & {"VV", "VH"}:
        raise SceneError(
            f"{name} holds {'/'.join(pols)} only (horizontal transmit) but the model was trained on "
            "So2Sat's VV/VH: HH/HV backscatter differs from VV/VH, so this model cannot map it: "
            "use a VV/VH acquisition"
        )
    missing = [p for p in wanted if p not in pols]
    if missing:
        raise SceneError(
            f"{name} has no {', '.join(missing)} (it has {', '.join(pols)}) but the model needs "
            f"{', '.join(wanted)}: give a product with {', '.join(missing)}"
        )


#: Blocks sampled along each axis of a measurement TIFF to see that it holds data (its last block
#: always among them, so that a file cut short is found).
SAMPLED_BLOCKS = 8


def _measurement(path: str) -> str:
    """'<product>: its measurement file <path inside the .SAFE folder>' for a GDAL path."""
    zipped = re.match(r"^/vsizip/(.*?\.zip)/", path, re.IGNORECASE)
    head, sep, rel = path.partition(".SAFE/") if ".SAFE/" in path else path.partition(".safe/")
    product = os.path.basename(zipped.group(1)) if zipped else os.path.basename(head + sep.rstrip("/"))
    return f"{product}: its measurement file {rel or os.path.basename(path)}"


def measurement_error(path: str, exc: BaseException) -> SceneError:
    """The one-line refusal of a SAFE measurement file (``path``, a GDAL path) that GDAL cannot
    open or read (``exc``: rasterio's error, whose cause holds GDAL's message)."""
    reason = " ".join(str(exc.__cause__ or exc).replace(f"'{path}'", "it").replace(path, "it").split())
    reason = reason or type(exc).__name__
    return SceneError(
        f"{_measurement(path)} cannot be read ({reason[:200]}): the product is damaged or incomplete "
        "(a download cut short?): download it again"
    )


def check_measurements(measurements: list[tuple[str, int, int]], dtypes: tuple[str, ...]) -> None:
    """Refuse, before any window is read, measurement TIFFs (``(GDAL path, lines, samples)`` as the
    annotation says) that GDAL cannot open (0 bytes, not a TIFF), that are not the size or type
    (``dtypes``) the annotation says, or that are cut short (their last block cannot be read);
    and a product with a measurement that holds no data: every one of up to
    :data:`SAMPLED_BLOCKS` x :data:`SAMPLED_BLOCKS` blocks spread over it (the last among them) is
    0 (what a SAFE product writes where it has no data). One line naming the file."""
    import warnings

    import rasterio
    from rasterio.windows import Window

    for path, lines, samples in measurements:
        what = _measurement(path)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
                src = rasterio.open(path)
            with src:
                if (src.height, src.width) != (lines, samples) or src.dtypes[0] not in dtypes:
                    raise SceneError(
                        f"{what} holds {src.height} x {src.width} {src.dtypes[0]} "
                        f"pixels but the annotation says {lines} x {samples} {' or '.join(dtypes)}: the product "
                        "is damaged or was changed: download it again"
                    )
                bh, bw = src.block_shapes[0]
                ny, nx = -(-lines // bh), -(-samples // bw)
                data = False
                blocks = 0
                for by in sorted({round(v) for v in np.linspace(0, ny - 1, min(ny, SAMPLED_BLOCKS))}, reverse=True):
                    for bx in sorted({round(v) for v in np.linspace(0, nx - 1, min(nx, SAMPLED_BLOCKS))}, reverse=True):
                        h, w = min(bh, lines - by * bh), min(bw, samples - bx * bw)
                        block = src.read(1, window=Window(bx * bw, by * bh, w, h))
                        blocks += 1
                        data = data or bool(np.any(block != 0))
        except rasterio.errors.RasterioIOError as exc:
            raise measurement_error(path, exc) from None
        if not data:
            raise SceneError(
                f"{what} holds no data (0, the SAFE no-data value, in "
                f"each of {blocks} blocks sampled across it): the product is empty or damaged: "
                "download it again, or choose another acquisition"
            )


def header(manifest: Manifest, label: str, wanted: list[str]) -> tuple[str, ...]:
    """The first ``conversions`` lines of a SAFE scene: the product (``label``: GRDH, GRDM, SLC),
    its orbit, acquisition and polarisations (``wanted``: those the model uses)."""
    m = manifest
    return (
        f"product: Sentinel-1{m.number} {m.mode} {label} SAFE (manifest.safe, IPF {m.ipf})",
        f"orbit: absolute {m.orbit_number}, relative {m.relative_orbit_number}, {m.orbit_pass.lower()}",
        f"acquisition: {m.start_time} to {m.stop_time} UTC",
        f"polarisations: {', '.join(m.polarisations)} (used: {', '.join(wanted)})",
    )
