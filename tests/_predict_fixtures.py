"""Small rasters, models and checkpoints for the scene/predict/raster tests (no network, no mocks)."""

from __future__ import annotations

import numpy as np
import rasterio
import torch
from rasterio.transform import from_origin

from lczmap.bands import band_set
from lczmap.models import Architecture, YNet

ARCH = Architecture(width=4, depth=2, blocks=1, embedding=8, projection=4)


def write_tif(
    path, data, crs="EPSG:32632", res=10.0, nodata=None, descriptions=None, origin=(500000.0, 5000000.0), units=None, gcps=None
):
    """Write (C, H, W) or (H, W) ``data`` as a GeoTIFF with a real CRS (or GCPs) and return the path."""
    data = np.asarray(data)
    if data.ndim == 2:
        data = data[None]
    profile = dict(
        driver="GTiff", height=data.shape[1], width=data.shape[2], count=data.shape[0], dtype=data.dtype, nodata=nodata
    )
    if gcps is None:
        profile.update(crs=crs, transform=from_origin(origin[0], origin[1], res, res))
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(data)
        if gcps is not None:
            ds.gcps = (gcps, rasterio.crs.CRS.from_user_input(crs))
        for i, d in enumerate(descriptions or [], start=1):
            ds.set_band_description(i, d)
        if units:
            ds.units = units
    return path


def grd(h, w, seed=0, border=0):
    """Gamma-distributed linear intensities (2, h, w) float32 with an optional NaN border."""
    rng = np.random.default_rng(seed)
    a = rng.gamma(2.0, 0.05, size=(2, h, w)).astype(np.float32)
    # some spatial structure so that classes vary
    yy, xx = np.mgrid[0:h, 0:w]
    a *= (1 + 3 * (np.sin(yy / 23.0) * np.cos(xx / 31.0) > 0)).astype(np.float32)
    if border:
        a[:, :border] = np.nan
        a[:, :, :border] = np.nan
    return a


def tiny_checkpoint(path, sar="lee-intensity", classes=(3, 6, 7, 8), seed=0):
    """A real lczmap checkpoint (untrained tiny Y-network) written with save_checkpoint."""
    from lczmap.checkpoint import save_checkpoint

    torch.manual_seed(seed)
    bs = band_set(sar, "sar")
    net = YNet(3, bs.n_channels, len(classes), "instance", ARCH).eval()
    mean = [0.1] * bs.n_channels
    std = [0.1] * bs.n_channels
    net.sar_encoder.standardize.set_stats(mean, std)
    meta = {
        "method": "sar-only",
        "norm": "instance",
        "eo_bands": band_set("rgb", "eo").to_dict(),
        "sar_bands": bs.to_dict(),
        "eo_mean": [0.1] * 3,
        "eo_std": [0.05] * 3,
        "sar_mean": mean,
        "sar_std": std,
        "classes": "lowrise",
        "codes": list(classes),
        "patch_size": 32,
        "architecture": ARCH.to_dict(),
        "seed": seed,
        "metrics": {},
    }
    return save_checkpoint(path, net, meta)


class CentrePixel(torch.nn.Module):
    """Classifies a window by its pixel (16, 16) of channel 0, an integer 0..K-1 (NaN-free)."""

    def __init__(self, k):
        super().__init__()
        self.k = k

    def forward(self, x):
        v = x[:, 0, 16, 16].round().long() % self.k
        return torch.nn.functional.one_hot(v, self.k).float() * 10
