"""Map a Sentinel-1 scene to Local Climate Zones with lczmap's Python API, end to end.

Run:  python examples/map_a_scene.py [OUT_DIR]

Uses the built-in So2Sat twin and a synthetic GRD scene; with real data, point ``data`` at your
So2Sat LCZ42 folder and ``scene`` at a Sentinel-1 GRD GeoTIFF (VV and VH, 10 m, UTM).
"""

import sys
import tempfile
from pathlib import Path

import lczmap
from lczmap.data import prepare
from lczmap.twin import write_scene, write_twin
from lczmap.train import TrainConfig, train
from lczmap.zones import summarize, zones

out = Path(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="lczmap-example-"))

# 1. data: a small So2Sat twin and a cache of the band sets we train on
data = write_twin(out / "so2sat", n_train=400, n_val=100, n_test=100, seed=1)
cache = prepare(data, out / "cache", band_sets=["rgb", "lee-intensity"])

# 2. train: EO stage, then SWD transfer to the VH/VV intensities a GRD scene supplies
config = TrainConfig(data=str(data), cache=str(cache), method="swd", classes="urban", labels=64,
                     sar_bands="lee-intensity", eo_epochs=1, sar_epochs=1, device="cpu")
result = train(config, out / "model.safetensors")
print("trained:", result.checkpoint)

# 3. predict a scene (dB GRD) at 100 m, the LCZ convention
scene, truth = write_scene(out / "scene.tif", size=(300, 300), seed=1, units="db")
mapped = lczmap.predict_scene(scene, out / "lcz.tif", model=result.checkpoint, device="cpu")
print(f"LCZ map: {mapped.out} ({mapped.shape[0]} x {mapped.shape[1]} pixels)")

# 4. zones and a whole-map summary
zones(mapped.out, out / "zones.gpkg", min_area=20000)
table = summarize(mapped.out)
print(table[["label", "name", "share"]].to_string(index=False))
