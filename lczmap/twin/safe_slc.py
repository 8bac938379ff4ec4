"""Write a Sentinel-1 IW SLC product in ESA's SAFE layout from known complex sigma0, so that a
reader's calibration, deburst, sub-swath merge and geocoding can be checked against the truth.

Per sub-swath and polarisation: ``annotation/*.xml`` (image information, swath timing with the
burst list and each line's first/last valid sample, geolocation grid), calibration and noise XML
in ``annotation/calibration/`` and a complex int16 ``measurement/*.tiff`` whose lines are the
bursts one after another, as IPF 3.x writes them; samples outside a burst's valid area hold
:data:`INVALID` (so a reader that ignores the valid-sample lists shows it).

Geometry (:class:`SlcLayout`): all sub-swaths share one radar grid of global lines ``n`` (azimuth
time ``START + n * AZIMUTH_INTERVAL``) and samples ``m`` (slant-range time ``RANGE_TIME + m /
RANGE_RATE``). Sub-swath ``s`` starts at line ``shifts[s]`` and sample ``s * swath_step``; burst
``k`` at line ``shifts[s] + k * burst_step``, so bursts overlap by ``lines_per_burst -
burst_step`` lines and sub-swaths by ``samples - swath_step`` samples. The ground is flat: ``n`` and
``m`` map affinely to the UTM zone of the centre (:func:`slc_geometry`), so the reader's
piecewise-linear geocoding is exact. The calibration LUT is :func:`lczmap.twin.safe.sigma_lut`.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .safe import PointMap, ads_header, calibration_xml, manifest_xml, sigma_lut, vector_text, zip_product

__all__ = [
    "write_safe_slc",
    "slc_geometry",
    "SlcLayout",
    "SLC_NAME",
    "INVALID",
    "START",
    "AZIMUTH_INTERVAL",
    "RANGE_TIME",
    "RANGE_RATE",
    "AZIMUTH_SPACING",
    "RANGE_SPACING",
]

SLC_NAME = "S1A_IW_SLC__1SDV_20210401T052622_20210401T052650_037258_04638E_ABCD"
_DATE = "20210401t052622-20210401t052650-037258-04638e"
#: Time of global line 0, and the azimuth time between lines (s), as real IW SLC products have it.
START = np.datetime64("2021-04-01T05:26:22.000000", "ns")
AZIMUTH_INTERVAL = 2.055556299999998e-03
#: Slant-range time of global sample 0 (s) and the range sampling rate (Hz).
RANGE_TIME = 5.3e-03
RANGE_RATE = 6.434523812571428e07
#: Ground metres per line (azimuth) and per sample (range) of the flat-earth geometry.
AZIMUTH_SPACING, RANGE_SPACING = 14.0, 4.0
#: The digital number written outside a burst's valid lines and samples.
INVALID = 30000 + 30000j


@dataclass(frozen=True)
class SlcLayout:
    """Sizes of the written product (see the module docstring). ``line_margin``: invalid lines at
    the start and end of each burst; ``sample_margin``: invalid samples at the start and end of
    each line (real products have both)."""

    swaths: int = 3
    bursts: int = 4
    lines_per_burst: int = 40
    burst_step: int = 28
    samples: int = 100
    swath_step: int = 85
    shifts: tuple[int, ...] = (0, -6, 5)
    line_margin: tuple[int, int] = (3, 3)
    sample_margin: tuple[int, int] = (4, 4)

    @property
    def valid_lines(self) -> tuple[int, int]:
        """First and last valid line of each burst."""
        return self.line_margin[0], self.lines_per_burst - 1 - self.line_margin[1]

    @property
    def valid_samples(self) -> tuple[int, int]:
        """First and last valid sample of each valid line."""
        return self.sample_margin[0], self.samples - 1 - self.sample_margin[1]

    def first_line(self, swath: int, burst: int) -> int:
        """Global line of the burst's first line."""
        return self.shifts[swath] + burst * self.burst_step

    def first_sample(self, swath: int) -> int:
        """Global sample of the sub-swath's first sample."""
        return swath * self.swath_step


def slc_geometry(centre: tuple[float, float], angle: float) -> tuple[str, PointMap, PointMap]:
    """(crs, f(n, m) -> (x, y), f(x, y) -> (n, m)): global line ``n`` and sample ``m`` to the UTM
    zone of ``centre`` (lon, lat) and back; azimuth runs along ``angle`` degrees from north,
    range to its right."""
    from pyproj import Transformer

    zone = int((centre[0] + 180.0) // 6) + 1
    crs = f"EPSG:{(32600 if centre[1] >= 0 else 32700) + zone}"
    xc, yc = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(*centre)
    c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))

    def to_map(n: ArrayLike, m: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        a, r = np.asarray(n, float) * AZIMUTH_SPACING, np.asarray(m, float) * RANGE_SPACING
        return xc + r * c - a * s, yc - r * s - a * c

    def to_radar(x: ArrayLike, y: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        dx, dy = np.asarray(x, float) - xc, np.asarray(y, float) - yc
        return (-dx * s - dy * c) / AZIMUTH_SPACING, (dx * c - dy * s) / RANGE_SPACING

    return crs, to_map, to_radar


def _time(n: Any) -> str:
    return str(START + np.timedelta64(int(round(float(n) * AZIMUTH_INTERVAL * 1e9)), "ns"))[:26]


def _global_line(lay: SlcLayout, swath: int, line: int) -> int:
    """The global line of measurement line ``line`` (bursts one after another) of ``swath``."""
    k = min(max(line // lay.lines_per_burst, 0), lay.bursts - 1)
    return lay.first_line(swath, k) + line - k * lay.lines_per_burst


def write_safe_slc(
    folder: str | os.PathLike,
    sigma0: Callable[[str, int, int, np.ndarray, np.ndarray], np.ndarray],
    *,
    layout: SlcLayout = SlcLayout(),
    pols: tuple[str, ...] = ("VV", "VH"),
    centre: tuple[float, float] = (9.0, 45.5),
    angle: float = -12.0,
    mode: str = "IW",
    as_zip: bool = False,
) -> Path:
    """Write the product into ``folder``; return the ``.SAFE`` folder (or ``.zip`` with
    ``as_zip``). ``sigma0(pol, swath, burst, n, m)``: the complex sigma0 amplitude (``|z|^2`` is
    sigma0) at global lines ``n`` and samples ``m`` (broadcastable int arrays) as burst ``burst``
    of sub-swath ``swath`` (0-based) images them; DN = round(z A), A the sigmaNought LUT."""
    import rasterio
    from pyproj import Transformer
    from rasterio.control import GroundControlPoint

    lay = layout
    crs, to_map, _ = slc_geometry(centre, angle)
    to_lonlat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    name = SLC_NAME.replace("_IW_", f"_{mode}_")
    safe = Path(folder) / f"{name}.SAFE"
    (safe / "annotation" / "calibration").mkdir(parents=True, exist_ok=True)
    (safe / "measurement").mkdir(exist_ok=True)
    lpb, nb, samples = lay.lines_per_burst, lay.bursts, lay.samples
    lines = lpb * nb
    fl, ll = lay.valid_lines
    fs, ls = lay.valid_samples
    hrefs = []
    image = 0
    for pol in pols:
        for s in range(lay.swaths):
            image += 1
            swath = f"{mode}{s + 1}"
            stem = f"s1a-{swath.lower()}-slc-{pol.lower()}-{_DATE}-{image:03d}"
            n_first, n_last = lay.first_line(s, 0), lay.first_line(s, nb - 1) + lpb - 1
            m0 = lay.first_sample(s)
            header = ads_header("SLC", pol, mode, swath, _time(n_first), _time(n_last), image)
            valid_first = " ".join(str(fs) if fl <= i <= ll else "-1" for i in range(lpb))
            valid_last = " ".join(str(ls) if fl <= i <= ll else "-1" for i in range(lpb))
            bursts = "".join(
                f"<burst><azimuthTime>{_time(lay.first_line(s, k))}</azimuthTime><azimuthAnxTime>{2000 + k:.6f}"
                f"</azimuthAnxTime><sensingTime>{_time(lay.first_line(s, k))}</sensingTime><byteOffset>{k * lpb * samples * 4}"
                f'</byteOffset><firstValidSample count="{lpb}">{valid_first}</firstValidSample>'
                f'<lastValidSample count="{lpb}">{valid_last}</lastValidSample></burst>'
                for k in range(nb)
            )
            grid_lines = [k * lpb for k in range(nb)] + [lines - 1]
            grid_n = [lay.first_line(s, k) for k in range(nb)] + [n_last]
            grid_pixels = np.unique(np.linspace(0, samples - 1, 6).round().astype(int))
            points = ""
            gcps = []
            for line, n in zip(grid_lines, grid_n):
                for p in grid_pixels:
                    lon, lat = to_lonlat.transform(*to_map(n, m0 + p))
                    gcps.append(GroundControlPoint(row=float(line), col=float(p), x=float(lon), y=float(lat), z=0.0))
                    points += (
                        f"<geolocationGridPoint><azimuthTime>{_time(n)}</azimuthTime><slantRangeTime>"
                        f"{RANGE_TIME + (m0 + p) / RANGE_RATE:.15e}</slantRangeTime><line>{line}</line><pixel>{p}"
                        f"</pixel><latitude>{float(lat):.12f}</latitude><longitude>{float(lon):.12f}</longitude>"
                        f"<height>0</height><incidenceAngle>{30 + 15 * (m0 + p) / (3 * samples):.6f}"
                        f"</incidenceAngle><elevationAngle>{27 + 13 * (m0 + p) / (3 * samples):.6f}"
                        f"</elevationAngle></geolocationGridPoint>"
                    )
            annotation = (
                f'<?xml version="1.0" encoding="UTF-8"?>\n<product>{header}<generalAnnotation><productInformation>'
                f"<pass>Descending</pass><timelinessCategory>NRT-3h</timelinessCategory><platformHeading>-167"
                f"</platformHeading><projection>Slant Range</projection><rangeSamplingRate>{RANGE_RATE:.15e}"
                f"</rangeSamplingRate><radarFrequency>5.405000454334350e+09</radarFrequency><azimuthSteeringRate>"
                f"1.590368784000000e+00</azimuthSteeringRate></productInformation></generalAnnotation>"
                f"<imageAnnotation><imageInformation><productFirstLineUtcTime>{_time(n_first)}</productFirstLineUtcTime>"
                f"<productLastLineUtcTime>{_time(n_last)}</productLastLineUtcTime><ascendingNodeTime>2021-04-01T04:49:55"
                f".637823</ascendingNodeTime><anchorTime>{_time(n_first)}</anchorTime><productComposition>Slice"
                f"</productComposition><sliceNumber>7</sliceNumber><slantRangeTime>{RANGE_TIME + m0 / RANGE_RATE:.15e}"
                f"</slantRangeTime><pixelValue>Complex</pixelValue><outputPixels>16 bit Signed Integer</outputPixels>"
                f"<rangePixelSpacing>2.329562e+00</rangePixelSpacing><azimuthPixelSpacing>{AZIMUTH_SPACING:e}"
                f"</azimuthPixelSpacing><azimuthTimeInterval>{AZIMUTH_INTERVAL:.15e}</azimuthTimeInterval>"
                f"<azimuthFrequency>4.864863e+02</azimuthFrequency><numberOfSamples>{samples}</numberOfSamples>"
                f"<numberOfLines>{lines}</numberOfLines><incidenceAngleMidSwath>3.5e+01</incidenceAngleMidSwath>"
                f"</imageInformation></imageAnnotation><swathTiming><linesPerBurst>{lpb}</linesPerBurst>"
                f'<samplesPerBurst>{samples}</samplesPerBurst><burstList count="{nb}">{bursts}</burstList>'
                f'</swathTiming><geolocationGrid><geolocationGridPointList count="{len(grid_lines) * len(grid_pixels)}">'
                f"{points}</geolocationGridPointList></geolocationGrid></product>\n"
            )
            (safe / "annotation" / f"{stem}.xml").write_text(annotation)
            cal_lines = np.arange(-5, lines + 10, 10)
            cal_pixels = np.append(np.arange(0, samples - 1, 20), samples - 1)
            (safe / "annotation" / "calibration" / f"calibration-{stem}.xml").write_text(
                calibration_xml(
                    header, cal_lines, cal_pixels, samples, [_time(_global_line(lay, s, int(ln))) for ln in cal_lines]
                )
            )
            ranges = "".join(
                f"<noiseRangeVector><azimuthTime>{_time(lay.first_line(s, k))}</azimuthTime><line>{k * lpb}</line>"
                f'<pixel count="{len(cal_pixels)}">{vector_text(cal_pixels)}</pixel>'
                f'<noiseRangeLut count="{len(cal_pixels)}">{vector_text([50.0] * len(cal_pixels))}</noiseRangeLut>'
                f"</noiseRangeVector>"
                for k in range(nb)
            )
            azimuth = (
                f"<noiseAzimuthVector><swath>{swath}</swath><firstAzimuthLine>0</firstAzimuthLine>"
                f"<firstRangeSample>0</firstRangeSample><lastAzimuthLine>{lines - 1}</lastAzimuthLine>"
                f'<lastRangeSample>{samples - 1}</lastRangeSample><line count="2">0 {lines - 1}</line>'
                f'<noiseAzimuthLut count="2">1.0 1.0</noiseAzimuthLut></noiseAzimuthVector>'
            )
            (safe / "annotation" / "calibration" / f"noise-{stem}.xml").write_text(
                f'<?xml version="1.0" encoding="UTF-8"?>\n<noise>{header}<noiseRangeVectorList count="{nb}">{ranges}'
                f'</noiseRangeVectorList><noiseAzimuthVectorList count="1">{azimuth}</noiseAzimuthVectorList></noise>\n'
            )
            tiff = safe / "measurement" / f"{stem}.tiff"
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
                dst = rasterio.open(tiff, "w", driver="GTiff", width=samples, height=lines, count=1, dtype="complex_int16")
            with dst:
                dst.gcps = (gcps, rasterio.crs.CRS.from_epsg(4326))
                pixel = np.arange(samples)
                for k in range(nb):
                    i = np.arange(lpb)[:, None]
                    z = np.broadcast_to(
                        np.asarray(sigma0(pol, s, k, lay.first_line(s, k) + i, m0 + pixel[None, :]), np.complex128),
                        (lpb, samples),
                    )
                    a = sigma_lut(k * lpb + i, pixel[None, :], samples)
                    dn = np.round(z.real * a) + 1j * np.round(z.imag * a)
                    dn = np.clip(dn.real, -32767, 32767) + 1j * np.clip(dn.imag, -32767, 32767)
                    valid = (i >= fl) & (i <= ll) & (pixel[None, :] >= fs) & (pixel[None, :] <= ls)
                    dn = np.where(valid, dn, INVALID).astype(np.complex64)
                    dst.write(dn, 1, window=rasterio.windows.Window(0, k * lpb, samples, lpb))
            hrefs += [
                ("s1Level1ProductSchema", f"annotation/{stem}.xml", f"product{image}"),
                ("s1Level1CalibrationSchema", f"annotation/calibration/calibration-{stem}.xml", f"calibration{image}"),
                ("s1Level1NoiseSchema", f"annotation/calibration/noise-{stem}.xml", f"noise{image}"),
                ("s1Level1MeasurementSchema", f"measurement/{stem}.tiff", f"measurement{image}"),
            ]
    manifest = manifest_xml(mode, pols, "003.31", hrefs, "SLC", [f"{mode}{s + 1}" for s in range(lay.swaths)])
    (safe / "manifest.safe").write_text(manifest)
    return zip_product(safe) if as_zip else safe
