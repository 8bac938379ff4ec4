"""Write a Sentinel-1 IW GRD product in ESA's SAFE layout from known sigma0: ``manifest.safe``,
``annotation/*.xml`` (image information and geolocation grid), ``annotation/calibration/``
calibration and noise XML (the element structure of real IPF 3.x products) and uint16
``measurement/*.tiff`` digital numbers with GCPs, so that a reader's calibration, noise removal and
geocoding can be checked against the truth. Geometry: a rotated 10 m grid in the UTM zone of the
centre (line and pixel map affinely to UTM; the geolocation grid gives lon/lat on the ellipsoid).
The LUTs are smooth made-up functions of line and pixel (:func:`sigma_lut`, :func:`noise_lut`).
The annotation also carries an orbit and slant-to-ground range polynomials consistent with that
grid (:func:`safe_orbit`), so that terrain correction (range-Doppler, zero Doppler) can be checked:
a sensor moving along the lines at the speed that makes one line per azimuth time interval, looking
across them at :data:`INCIDENCE` degrees from :data:`SLANT_RANGE` metres (the grid is mirrored in
range compared with a real descending pass, so it looks left; zero-Doppler geometry is the same).
"""

from __future__ import annotations

import math
import os
import shutil
import warnings
import zipfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

#: (line, pixel) or (x, y) arrays (any shape, broadcast together) -> two arrays of that shape.
PointMap = Callable[[ArrayLike, ArrayLike], tuple[np.ndarray, np.ndarray]]

__all__ = [
    "PointMap",
    "write_safe",
    "sigma_lut",
    "noise_lut",
    "safe_geometry",
    "safe_orbit",
    "manifest_xml",
    "calibration_xml",
    "vector_text",
    "zip_product",
    "SAFE_NAME",
    "INCIDENCE",
    "SLANT_RANGE",
]

SAFE_NAME = "S1A_IW_GRDH_1SDV_20210401T052623_20210401T052648_037258_04638E_ABCD"
_DATE = "20210401t052623-20210401t052648-037258-04638e"
_START, _STOP = "2021-04-01T05:26:23.794457", "2021-04-01T05:26:48.793373"
_INTERVAL = 1.498376640333055e-03
#: Incidence angle (degrees) and slant range (m) of the product's centre in the twin's orbit.
INCIDENCE, SLANT_RANGE = 39.0, 880_000.0
_C = 299_792_458.0


def sigma_lut(line: Any, pixel: Any, samples: int) -> np.ndarray:
    """The sigmaNought calibration LUT value (DN per unit amplitude) at ``line``, ``pixel``."""
    return 450.0 + 150.0 * (pixel / samples) + 5.0 * np.sin(line / 3000.0)


def noise_lut(line: Any, pixel: Any, samples: int) -> np.ndarray:
    """The noise range LUT (DN^2) at ``line``, ``pixel``."""
    return 40.0 + 25.0 * np.cos(2 * np.pi * 3 * pixel / samples) ** 2 + 0 * line


def _azimuth_blocks(lines: int, samples: int) -> list[tuple[int, int, int, int]]:
    """(first line, last line, first sample, last sample) of three sub-swath blocks."""
    edges = [0, samples // 3, 2 * samples // 3, samples]
    return [(0, lines - 1, edges[k], edges[k + 1] - 1) for k in range(3)]


def _azimuth_factor(line: np.ndarray, k: int) -> np.ndarray:
    return 1.0 + 0.1 * (k - 1) + 0.05 * np.cos(line / 500.0)


def safe_geometry(lines: int, samples: int, centre: tuple[float, float], angle: float) -> tuple[str, PointMap]:
    """(crs, f(line, pixel) -> (x, y) in the crs) of the product's grid: 10 m pixels rotated by
    ``angle`` degrees about ``centre`` (lon, lat) in its UTM zone."""
    from pyproj import Transformer

    zone = int((centre[0] + 180.0) // 6) + 1
    crs = f"EPSG:{(32600 if centre[1] >= 0 else 32700) + zone}"
    xc, yc = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(*centre)
    c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))

    def to_map(line: ArrayLike, pixel: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        dp, dl = (np.asarray(pixel, float) - samples / 2) * 10.0, (np.asarray(line, float) - lines / 2) * 10.0
        return xc + dp * c + dl * s, yc + dp * s - dl * c

    return crs, to_map


def safe_orbit(lines: int, samples: int, to_map: PointMap, crs: str) -> dict[str, Any]:
    """The twin's orbit: ``times`` (s after the first line) and ``positions`` (ECEF, m) of 17
    state vectors every 10 s about the centre line, ``slant_range(line, pixel)`` (m, zero Doppler,
    on the ellipsoid), ``srgr``/``grsr`` polynomial coefficients (slant range - ``sr0`` -> ground
    range, ground range -> slant range) and ``incidence(line, pixel)`` (degrees)."""
    from pyproj import Transformer

    to_ecef = Transformer.from_crs(crs, "EPSG:4978", always_xy=True)
    to_lonlat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)

    def ecef(line: ArrayLike, pixel: ArrayLike) -> np.ndarray:
        x, y = to_map(line, pixel)
        return np.stack(to_ecef.transform(x, y, np.zeros_like(x)), axis=-1)

    lc, pc = lines / 2, samples / 2
    centre = ecef(np.float64(lc), np.float64(pc))
    lon, lat = (math.radians(v) for v in to_lonlat.transform(*to_map(lc, pc)))
    up = np.array([math.cos(lat) * math.cos(lon), math.cos(lat) * math.sin(lon), math.sin(lat)])
    along = ecef(np.float64(lc + 1), np.float64(pc)) - centre
    speed = float(np.linalg.norm(along)) / _INTERVAL  # one line per azimuth time interval
    along /= np.linalg.norm(along)
    across = ecef(np.float64(lc), np.float64(pc + 1)) - centre
    across -= across.dot(up) * up + across.dot(along) * along
    across /= np.linalg.norm(across)
    inc = math.radians(INCIDENCE)
    sensor = centre + SLANT_RANGE * (math.cos(inc) * up - math.sin(inc) * across)
    tc = lc * _INTERVAL
    times = tc + np.arange(-80.0, 81.0, 10.0)
    positions = sensor + (times - tc)[:, None] * speed * along

    def geometry(line: ArrayLike, pixel: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        p = ecef(np.asarray(line, float), np.asarray(pixel, float))
        t = tc + (p - sensor) @ along / speed  # zero Doppler: (sensor(t) - p) . velocity = 0
        look = sensor + (t - tc)[..., None] * speed * along - p
        rng = np.linalg.norm(look, axis=-1)
        normal = p / np.linalg.norm(p, axis=-1, keepdims=True)  # the sphere's; within 0.2 degrees of the ellipsoid's
        return t, rng, np.degrees(np.arccos(np.sum(look * normal, axis=-1) / rng))

    pix = np.linspace(0, samples - 1, 64)
    _, rng, _ = geometry(np.full_like(pix, lc), pix)
    sr0 = float(rng[0])
    srgr = np.polynomial.polynomial.polyfit(rng - sr0, pix * 10.0, 4)
    grsr = np.polynomial.polynomial.polyfit(pix * 10.0, rng, 4)
    return {
        "times": times,
        "positions": positions,
        "sr0": sr0,
        "srgr": srgr,
        "grsr": grsr,
        "slant_range": lambda line, pixel: geometry(line, pixel)[1],
        "incidence": lambda line, pixel: geometry(line, pixel)[2],
    }


def _orbit_xml(orbit: dict[str, Any], lines: int) -> tuple[str, str]:
    """The annotation's ``orbitList`` and ``coordinateConversionList``."""
    vectors = "".join(
        f"<orbit><time>{_azimuth_time_at(t)}</time><frame>Earth Fixed</frame><position><x>{p[0]:.6f}</x><y>"
        f"{p[1]:.6f}</y><z>{p[2]:.6f}</z></position><velocity><x>{v[0]:.6f}</x><y>{v[1]:.6f}</y><z>{v[2]:.6f}</z>"
        f"</velocity></orbit>"
        for t, p, v in zip(orbit["times"], orbit["positions"], np.gradient(orbit["positions"], orbit["times"], axis=0))
    )
    conversions = "".join(
        f"<coordinateConversion><azimuthTime>{_azimuth_time_at(t)}</azimuthTime><slantRangeTime>"
        f"{2 * orbit['sr0'] / _C:.15e}</slantRangeTime><sr0>{orbit['sr0']:.6f}</sr0><srgrCoefficients count="
        f'"{len(orbit["srgr"])}">{vector_text([float(c) for c in orbit["srgr"]])}</srgrCoefficients><gr0>0.0</gr0>'
        f'<grsrCoefficients count="{len(orbit["grsr"])}">{vector_text([float(c) for c in orbit["grsr"]])}'
        f"</grsrCoefficients></coordinateConversion>"
        for t in (-10.0, lines * _INTERVAL / 2, lines * _INTERVAL + 10.0)
    )
    return (
        f'<orbitList count="{len(orbit["times"])}">{vectors}</orbitList>',
        f'<coordinateConversion><coordinateConversionList count="3">{conversions}</coordinateConversionList>'
        "</coordinateConversion>",
    )


def _azimuth_time_at(seconds: float) -> str:
    return str(np.datetime64(_START) + np.timedelta64(int(round(seconds * 1e9)), "ns"))[:26]


def _azimuth_time(line: int) -> str:
    t = np.datetime64(_START) + np.timedelta64(int(line * 1498376.640333055), "ns")
    return str(t)[:26]


def vector_text(values: Iterable[object]) -> str:
    """The text of an XML list element: floats as ``%.6e``, others as they print."""
    return " ".join(f"{v:.6e}" if isinstance(v, float) else str(v) for v in values)


def write_safe(
    folder: str | os.PathLike,
    lines: int,
    samples: int,
    sigma0: Callable[[str, int, int], np.ndarray],
    *,
    pols: tuple[str, ...] = ("VV", "VH"),
    centre: tuple[float, float] = (9.0, 45.5),
    angle: float = -12.0,
    mode: str = "IW",
    ipf: str = "003.31",
    as_zip: bool = False,
    strip: int = 512,
) -> Path:
    """Write the product into ``folder``; return the ``.SAFE`` folder (or ``.zip`` with
    ``as_zip``). ``sigma0(pol, r0, r1)``: linear sigma0 of lines ``r0:r1`` (float32, NaN: no
    data), asked strip by strip. ``ipf`` < 2.9 writes ``noiseVector`` without azimuth blocks."""
    import rasterio
    from pyproj import Transformer
    from rasterio.control import GroundControlPoint

    crs, to_map = safe_geometry(lines, samples, centre, angle)
    to_lonlat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    new_noise = tuple(int(v) for v in ipf.split(".")[:2]) >= (2, 90)
    name = SAFE_NAME.replace("_IW_", f"_{mode}_")
    safe = Path(folder) / f"{name}.SAFE"
    (safe / "annotation" / "calibration").mkdir(parents=True, exist_ok=True)
    (safe / "measurement").mkdir(exist_ok=True)
    grid_lines = np.unique(np.linspace(0, lines - 1, 10).round().astype(int))
    grid_pixels = np.unique(np.linspace(0, samples - 1, 21).round().astype(int))
    gl, gp = np.meshgrid(grid_lines, grid_pixels, indexing="ij")
    lon, lat = to_lonlat.transform(*to_map(gl, gp))
    orbit = safe_orbit(lines, samples, to_map, crs)
    slant_time = 2 * orbit["slant_range"](gl, gp) / _C
    incidence = orbit["incidence"](gl, gp)
    orbit_list, conversion_list = _orbit_xml(orbit, lines)
    cal_lines = np.arange(-200, lines + 1000, 1000)
    cal_pixels = np.append(np.arange(0, samples - 1, 40), samples - 1)
    hrefs = []
    for k, pol in enumerate(pols, start=1):
        stem = f"s1a-{mode.lower()}-grd-{pol.lower()}-{_DATE}-{k:03d}"
        header = ads_header("GRD", pol, mode, mode, _START, _STOP, k)
        points = "".join(
            f"<geolocationGridPoint><azimuthTime>{_azimuth_time(ln)}</azimuthTime><slantRangeTime>{st:.15e}"
            f"</slantRangeTime><line>{ln}</line><pixel>{p}</pixel><latitude>{la:.12f}</latitude><longitude>"
            f"{lo:.12f}</longitude><height>0</height><incidenceAngle>{inc:.6f}</incidenceAngle>"
            f"<elevationAngle>{inc - 3:.6f}</elevationAngle></geolocationGridPoint>"
            for ln, p, la, lo, st, inc in zip(
                gl.ravel(), gp.ravel(), lat.ravel(), lon.ravel(), slant_time.ravel(), incidence.ravel()
            )
        )
        annotation = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<product>{header}<generalAnnotation><productInformation>'
            f"<pass>Descending</pass><timelinessCategory>NRT-3h</timelinessCategory><platformHeading>-167"
            f"</platformHeading><projection>Ground Range</projection><rangeSamplingRate>6.434523812571428e+07"
            f"</rangeSamplingRate><radarFrequency>5.405000454334350e+09</radarFrequency><azimuthSteeringRate>"
            f"1.590368784000000e+00</azimuthSteeringRate></productInformation>{orbit_list}</generalAnnotation>"
            f"<imageAnnotation><imageInformation><productFirstLineUtcTime>{_START}</productFirstLineUtcTime>"
            f"<productLastLineUtcTime>{_STOP}</productLastLineUtcTime><ascendingNodeTime>2021-04-01T04:49:55"
            f".637823</ascendingNodeTime><anchorTime>{_START}</anchorTime><productComposition>Slice"
            f"</productComposition><sliceNumber>7</sliceNumber><slantRangeTime>{2 * orbit['sr0'] / _C:.15e}"
            f"</slantRangeTime><pixelValue>Detected</pixelValue><outputPixels>16 bit Unsigned Integer"
            f"</outputPixels><rangePixelSpacing>1.000000e+01</rangePixelSpacing><azimuthPixelSpacing>"
            f"1.000000e+01</azimuthPixelSpacing><azimuthTimeInterval>{_INTERVAL!r}</azimuthTimeInterval>"
            f"<azimuthFrequency>4.866092e+02</azimuthFrequency><numberOfSamples>{samples}</numberOfSamples>"
            f"<numberOfLines>{lines}</numberOfLines><incidenceAngleMidSwath>3.892921583041158e+01"
            f"</incidenceAngleMidSwath></imageInformation></imageAnnotation><swathTiming><linesPerBurst>0"
            f'</linesPerBurst><samplesPerBurst>0</samplesPerBurst><burstList count="0"/></swathTiming>'
            f'<geolocationGrid><geolocationGridPointList count="{gl.size}">{points}</geolocationGridPointList>'
            f"</geolocationGrid>{conversion_list}</product>\n"
        )
        (safe / "annotation" / f"{stem}.xml").write_text(annotation)
        (safe / "annotation" / "calibration" / f"calibration-{stem}.xml").write_text(
            calibration_xml(header, cal_lines, cal_pixels, samples, [_START] * len(cal_lines))
        )
        vtag, ltag = ("noiseRangeVector", "noiseRangeLut") if new_noise else ("noiseVector", "noiseLut")
        ranges = ""
        for j, ln in enumerate(cal_lines):
            pix = cal_pixels[:: 1 + j % 2] if new_noise else cal_pixels  # irregular pixel lists, as real GRDs have
            pix = np.unique(np.append(pix, [0, samples - 1]))
            ranges += (
                f"<{vtag}><azimuthTime>{_START}</azimuthTime><line>{ln}</line>"
                f'<pixel count="{len(pix)}">{vector_text(pix)}</pixel>'
                f'<{ltag} count="{len(pix)}">{vector_text([float(v) for v in noise_lut(ln, pix, samples)])}'
                f"</{ltag}></{vtag}>"
            )
        noise = f'<{vtag}List count="{len(cal_lines)}">{ranges}</{vtag}List>'
        if new_noise:
            az = ""
            for b, (fl, ll, fs, ls) in enumerate(_azimuth_blocks(lines, samples)):
                al = np.append(np.arange(fl, ll, 250), ll)
                az += (
                    f"<noiseAzimuthVector><swath>{mode}{b + 1}</swath><firstAzimuthLine>{fl}</firstAzimuthLine>"
                    f"<firstRangeSample>{fs}</firstRangeSample><lastAzimuthLine>{ll}</lastAzimuthLine>"
                    f'<lastRangeSample>{ls}</lastRangeSample><line count="{len(al)}">{vector_text(al)}</line>'
                    f'<noiseAzimuthLut count="{len(al)}">'
                    f"{vector_text([float(v) for v in _azimuth_factor(al, b)])}</noiseAzimuthLut>"
                    f"</noiseAzimuthVector>"
                )
            noise += f'<noiseAzimuthVectorList count="3">{az}</noiseAzimuthVectorList>'
        (safe / "annotation" / "calibration" / f"noise-{stem}.xml").write_text(
            f'<?xml version="1.0" encoding="UTF-8"?>\n<noise>{header}{noise}</noise>\n'
        )
        tiff = safe / "measurement" / f"{stem}.tiff"
        gcps = [
            GroundControlPoint(row=float(ln), col=float(p), x=float(lo), y=float(la), z=0.0)
            for ln, p, la, lo in zip(gl.ravel(), gp.ravel(), lat.ravel(), lon.ravel())
        ]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
            dst = rasterio.open(tiff, "w", driver="GTiff", width=samples, height=lines, count=1, dtype="uint16")
        with dst:
            dst.gcps = (gcps, rasterio.crs.CRS.from_epsg(4326))
            pixel = np.arange(samples, dtype=np.float64)
            for r0 in range(0, lines, strip):
                r1 = min(r0 + strip, lines)
                dst.write(
                    dn_of(sigma0(pol, r0, r1), r0, pixel, samples, lines, new_noise)[None],
                    window=rasterio.windows.Window(0, r0, samples, r1 - r0),
                )
        hrefs += [
            ("s1Level1ProductSchema", f"annotation/{stem}.xml", f"product{k}"),
            ("s1Level1CalibrationSchema", f"annotation/calibration/calibration-{stem}.xml", f"calibration{k}"),
            ("s1Level1NoiseSchema", f"annotation/calibration/noise-{stem}.xml", f"noise{k}"),
            ("s1Level1MeasurementSchema", f"measurement/{stem}.tiff", f"measurement{k}"),
        ]
    (safe / "manifest.safe").write_text(manifest_xml(mode, pols, ipf, hrefs))
    return zip_product(safe) if as_zip else safe


def zip_product(safe: Path) -> Path:
    """The ``.SAFE`` folder ``safe`` as ``<name>.zip`` beside it (the folder inside, stored), the
    folder removed: a product as the archive delivers it."""
    out = safe.with_suffix(".zip")
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        for f in sorted(safe.rglob("*")):
            z.write(f, f.relative_to(safe.parent).as_posix())
    shutil.rmtree(safe)
    return out


def dn_of(sigma0: np.ndarray, r0: int, pixel: np.ndarray, samples: int, lines: int, new_noise: bool) -> np.ndarray:
    """Digital numbers of ``sigma0`` rows starting at line ``r0``: ``sqrt(sigma0 A^2 + N)``."""
    line = np.arange(r0, r0 + sigma0.shape[0], dtype=np.float64)[:, None]
    a = sigma_lut(line, pixel[None, :], samples)
    n = noise_lut(line, pixel[None, :], samples) * np.ones_like(a)
    if new_noise:
        for k, (_, _, fs, ls) in enumerate(_azimuth_blocks(lines, samples)):
            n[:, fs : ls + 1] *= _azimuth_factor(line, k)
    dn = np.sqrt(np.maximum(np.nan_to_num(sigma0, nan=0.0) * a * a + n, 0.0))
    dn = np.clip(np.round(dn), 1, 65535).astype(np.uint16)
    dn[np.isnan(sigma0)] = 0
    return dn


def ads_header(product_type: str, pol: str, mode: str, swath: str, start: str, stop: str, image: int) -> str:
    """The ``adsHeader`` of an annotation, calibration or noise XML."""
    return (
        f"<adsHeader><missionId>S1A</missionId><productType>{product_type}</productType><polarisation>{pol}"
        f"</polarisation><mode>{mode}</mode><swath>{swath}</swath><startTime>{start}</startTime>"
        f"<stopTime>{stop}</stopTime><absoluteOrbitNumber>37258</absoluteOrbitNumber>"
        f"<missionDataTakeId>287630</missionDataTakeId><imageNumber>{image:03d}</imageNumber></adsHeader>"
    )


def calibration_xml(header: str, lines: np.ndarray, pixels: np.ndarray, samples: int, times: Sequence[str]) -> str:
    """A calibration XML: one vector per line of ``lines`` (azimuth time ``times``) at ``pixels``,
    sigmaNought :func:`sigma_lut` (``samples``: the image's), gamma 0.9 of it, betaNought and dn 237."""
    n = len(pixels)
    vectors = "".join(
        f"<calibrationVector><azimuthTime>{t}</azimuthTime><line>{ln}</line>"
        f'<pixel count="{n}">{vector_text(pixels)}</pixel>'
        f'<sigmaNought count="{n}">{vector_text([float(v) for v in sigma_lut(ln, pixels, samples)])}</sigmaNought>'
        f'<betaNought count="{n}">{vector_text([237.0] * n)}</betaNought>'
        f'<gamma count="{n}">{vector_text([float(v) for v in sigma_lut(ln, pixels, samples) * 0.9])}</gamma>'
        f'<dn count="{n}">{vector_text([237.0] * n)}</dn>'
        f"</calibrationVector>"
        for ln, t in zip(lines, times)
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<calibration>{header}<calibrationInformation>'
        f"<absoluteCalibrationConstant>1.000000e+00</absoluteCalibrationConstant></calibrationInformation>"
        f'<calibrationVectorList count="{len(lines)}">{vectors}</calibrationVectorList></calibration>\n'
    )


def manifest_xml(
    mode: str,
    pols: tuple[str, ...],
    ipf: str,
    hrefs: list[tuple[str, str, str]],
    product_type: str = "GRD",
    swaths: Sequence[str] | None = None,
) -> str:
    """The ``manifest.safe`` of a product of ``product_type`` (GRD, SLC) whose files are ``hrefs``
    (representation, href, ID); ``swaths``: its sub-swaths (None: ``mode``, as a GRD's)."""
    swath_tags = "".join(f"<s1sarl1:swath>{s}</s1sarl1:swath>" for s in (swaths or (mode,)))
    ns = (
        'xmlns:xfdu="urn:ccsds:schema:xfdu:1" xmlns:safe="http://www.esa.int/safe/sentinel-1.0" '
        'xmlns:s1="http://www.esa.int/safe/sentinel-1.0/sentinel-1" '
        'xmlns:s1sarl1="http://www.esa.int/safe/sentinel-1.0/sentinel-1/sar/level-1"'
    )
    pol_tags = "".join(f"<s1sarl1:transmitterReceiverPolarisation>{p}</s1sarl1:transmitterReceiverPolarisation>" for p in pols)
    objects = "".join(
        f'<dataObject ID="{i}" repID="{rep}"><byteStream mimeType="text/xml"><fileLocation '
        f'locatorType="URL" href="./{href}"/></byteStream></dataObject>'
        for rep, href, i in hrefs
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<xfdu:XFDU {ns}><metadataSection>'
        f'<metadataObject ID="processing"><metadataWrap><xmlData><safe:processing name="{product_type} Post Processing">'
        f'<safe:facility name="Copernicus S1 Core Ground Segment"><safe:software name="Sentinel-1 IPF" '
        f'version="{ipf}"/></safe:facility></safe:processing></xmlData></metadataWrap></metadataObject>'
        f'<metadataObject ID="platform"><metadataWrap><xmlData><safe:platform><safe:familyName>SENTINEL-1'
        f"</safe:familyName><safe:number>A</safe:number><safe:instrument><safe:extension><s1sarl1:instrumentMode>"
        f"<s1sarl1:mode>{mode}</s1sarl1:mode>{swath_tags}</s1sarl1:instrumentMode>"
        f"</safe:extension></safe:instrument></safe:platform></xmlData></metadataWrap></metadataObject>"
        f'<metadataObject ID="measurementOrbitReference"><metadataWrap><xmlData><safe:orbitReference>'
        f'<safe:orbitNumber type="start">37258</safe:orbitNumber><safe:orbitNumber type="stop">37258'
        f'</safe:orbitNumber><safe:relativeOrbitNumber type="start">66</safe:relativeOrbitNumber>'
        f'<safe:relativeOrbitNumber type="stop">66</safe:relativeOrbitNumber><safe:extension>'
        f"<s1:orbitProperties><s1:pass>DESCENDING</s1:pass><s1:ascendingNodeTime>2021-04-01T04:49:55.637823"
        f"</s1:ascendingNodeTime></s1:orbitProperties></safe:extension></safe:orbitReference></xmlData>"
        f'</metadataWrap></metadataObject><metadataObject ID="generalProductInformation"><metadataWrap>'
        f"<xmlData><s1sarl1:standAloneProductInformation><s1sarl1:missionDataTakeID>287630"
        f"</s1sarl1:missionDataTakeID>{pol_tags}<s1sarl1:productType>{product_type}</s1sarl1:productType>"
        f"</s1sarl1:standAloneProductInformation></xmlData></metadataWrap></metadataObject>"
        f'<metadataObject ID="acquisitionPeriod"><metadataWrap><xmlData><safe:acquisitionPeriod>'
        f"<safe:startTime>{_START}</safe:startTime><safe:stopTime>{_STOP}</safe:stopTime>"
        f"</safe:acquisitionPeriod></xmlData></metadataWrap></metadataObject></metadataSection>"
        f"<dataObjectSection>{objects}</dataObjectSection></xfdu:XFDU>\n"
    )
