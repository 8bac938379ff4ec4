#!/usr/bin/env bash
# lczmap's GPU checks, as one script for one call on a lent GPU machine (the workplace's device tool):
#
#   here:   bash ../shared/device/wheels.sh odc-geo cachetools shapely platformdirs filelock pystac \
#               xarray-sentinel fsspec xmlschema elementpath
#           # fills .whl/ with rasterio, dask, distributed, ... (3.12 wheels) and what lczmap added since
#           # (odc-geo for grids, platformdirs, filelock, pystac; xarray-sentinel and its readers for SAFE)
#   there:  run(command="bash scripts/gpu_check.sh", carry=[".whl"], timeout_s=560)
#
# The GPU image has Python 3.12, torch + CUDA, h5py, numpy, xarray, click, tqdm, pytest, safetensors,
# matplotlib, pandas, but no rasterio or dask: the carried wheels are installed first. Logs and JSON
# figures go to $OUT (or ./gpu_out outside the device tool). Steps:
#   1. tests/predict/test_gpu.py: CUDA training with AMP, CPU-loadable checkpoint, CUDA predict == CPU predict;
#      tests/test_speckle_identity.py: the Refined Lee filter on CUDA gives the bits of the code it replaced
#   2. `lczmap -v predict` on a 10,980 x 10,980 scene, wall clock with Python start (target <= 10 s),
#      and its timing line (reads waited, model, device busy, writing)
#   3. scripts/bench/bench_predict.py on the same scene: model-only bound (a) vs end to end (b), target
#      b/a >= 0.75; (b') data path and what reused buffers save at the reader; (r) host path;
#      timings of (b) and (b') in the JSON
#   4. scripts/bench/bench_train.py on CUDA: samples/s per stage and method (short schedule)
#   5. scripts/bench/bench_predict.py on a DEFLATE-compressed copy of the scene (reading costs ~7x more)
#   6. scripts/bench/bench_speckle.py speed on the device: windows/s with and without the refined Lee
#      filter in the tile kernel, and the filter alone per tile block
#
# A rehearsal on a machine without a GPU (small scene, CPU; the GPU tests skip):
#   SIZE=600 DEVICE=cpu bash scripts/gpu_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
SIZE=${SIZE:-10980}
DEVICE=${DEVICE:-cuda}
OUT=${OUT:-$PWD/gpu_out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || { echo "wheel install failed" | tee "$OUT/error.txt"; exit 1; }
  export PYTHONPATH=/tmp/site:$PWD
else
  export PYTHONPATH=$PWD
fi
status=0
{ nvidia-smi; python3 -c "import torch, rasterio, dask; print(torch.__version__, torch.cuda.get_device_name(0), rasterio.__version__, dask.__version__)"; } \
  > "$OUT/env.txt" 2>&1
cat "$OUT/env.txt" | tail -3
# every lczmap layer the checks use must import here, else the GPU minutes are wasted: stop at once
python3 -c "import lczmap.predict, lczmap.train, lczmap.scene, lczmap.twin, lczmap.study" 2> "$OUT/import_error.txt" \
  || { echo "lczmap does not import on this image (a missing wheel?):"; tail -3 "$OUT/import_error.txt"; exit 1; }

echo "== 1. GPU tests (and the Refined Lee filter's bits on CUDA against the code it replaced)"
timeout 200 python3 -m pytest -q -p no:cacheprovider -rs tests/predict/test_gpu.py tests/test_speckle_identity.py 2>&1 \
  | tee "$OUT/gpu_tests.log" || status=1

echo "== 2. lczmap predict, $SIZE x $SIZE, wall clock"
scene=/tmp/lczmap_s10980.tif
python3 scripts/bench/bench_predict.py --size $SIZE --write-scene $scene 2>&1 | tail -3
python3 -c "import sys, pathlib; sys.path.insert(0, 'scripts/bench'); from bench_predict import make_checkpoint; make_checkpoint(pathlib.Path('/tmp/lczmap_m.safetensors'))"
t0=$(date +%s%N)
timeout 120 python3 -m lczmap -v predict $scene /tmp/lczmap_cli.tif -m /tmp/lczmap_m.safetensors --device $DEVICE --overwrite \
  > "$OUT/cli_predict.log" 2>&1 || status=1
echo "cli wall $(( ($(date +%s%N) - t0) / 1000000 )) ms" | tee -a "$OUT/cli_predict.log"
grep -E "windows in|setup|bound" "$OUT/cli_predict.log"

echo "== 3. predict benchmark on the same scene"
timeout 200 python3 scripts/bench/bench_predict.py --scene $scene --skip-torchgeo --device $DEVICE \
  --json "$OUT/bench_predict.json" 2>&1 | tee "$OUT/bench_predict.log" || status=1

echo "== 4. training throughput on CUDA"
timeout 120 python3 scripts/bench/bench_train.py --device $DEVICE --threads 8 --batch-size 256 --eo-epochs 2 --sar-epochs 2 \
  --json "$OUT/bench_train.json" 2>&1 | tee "$OUT/bench_train.log" || status=1

echo "== 5. predict benchmark on a DEFLATE-compressed scene"
rm -f $scene /tmp/lczmap_cli.tif
timeout 150 sh -c "python3 scripts/bench/bench_predict.py --size $SIZE --compress deflate --write-scene $scene && \
  python3 scripts/bench/bench_predict.py --scene $scene --skip-torchgeo --device $DEVICE --json '$OUT/bench_predict_deflate.json'" \
  > "$OUT/bench_predict_deflate.log" 2>&1 || status=1
tail -30 "$OUT/bench_predict_deflate.log"
rm -f $scene

echo "== 6. refined Lee filter cost on the device"
LEE=$(( SIZE < 2000 ? SIZE : 2000 ))
timeout 120 python3 scripts/bench/bench_speckle.py speed --size $LEE $LEE --device $DEVICE --threads 8 --repeat 2 \
  --out "$OUT/speckle" > "$OUT/bench_speckle.log" 2>&1 || status=1
tail -12 "$OUT/bench_speckle.log"
exit $status
