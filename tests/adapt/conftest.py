"""Fixtures of the adaptation tests: a tiny model trained on the twin, a twin city it never saw
and training areas drawn from that city's truth."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_model(twin_dir, tmp_path_factory):
    """A small finetune model on the twin's Lee-filtered intensities (what a GRD scene supplies)."""
    from lczmap.train import TrainConfig, train

    cfg = TrainConfig(
        data=str(twin_dir),
        method="finetune",
        classes="all",
        labels=256,
        sar_bands="lee-intensity",
        eo_epochs=1,
        sar_epochs=1,
        width=8,
        depth=2,
        blocks=1,
        embedding=16,
        projection=16,
        norm="batch",
        val_split=None,
        device="cpu",
    )
    return train(cfg, tmp_path_factory.mktemp("adapt_model") / "base.safetensors", record_last=False).checkpoint


@pytest.fixture(scope="session")
def city(tmp_path_factory):
    """A twin city (GRD, dB, 300 x 360 pixels, seed 5) and its 100 m truth."""
    from lczmap.twin import write_scene

    folder = tmp_path_factory.mktemp("adapt_city")
    return write_scene(folder / "city.tif", size=(300, 360), seed=5, kind="grd", units="db", truth_path=folder / "truth.tif")


@pytest.fixture(scope="session")
def city_areas(city, tmp_path_factory):
    """Up to three 3 x 3-pixel squares per class of the city's truth, in WGS84, class as 'class'."""
    from lczmap.adapt.areas import areas_from_map

    frame = areas_from_map(city[1], 3, size=3, seed=0)
    frame = frame.rename(columns={"lcz": "class"}).to_crs("EPSG:4326")
    path = tmp_path_factory.mktemp("adapt_areas") / "areas.geojson"
    frame.to_file(path, driver="GeoJSON")
    return path
