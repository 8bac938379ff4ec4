#!/usr/bin/env bash
# lczmap's GPU checks, as one script for one call on a lent GPU machine (the workplace's device tool):
#
#   here:   bash ../shared/device/wheels.sh          # fills .whl/ with rasterio, dask, distributed, ... (3.12 wheels)
#   there:  run(command="bash scripts/gpu_check.sh", carry=[".whl"], timeout_s=560)
#
# The GPU image has Python 3.12, torch + CUDA, h5py, numpy, xarray, click, tqdm, pytest, safetensors,
# matplotlib, pandas, but no rasterio or dask: the carried wheels are installed first. Logs and JSON
# figures go to $OUT (or ./gpu_out outside the device tool). Steps:
#   1. tests/test_gpu.py: CUDA training with AMP, CPU-loadable checkpoint, CUDA predict == CPU predict
#   2. scripts/bench_predict.py on a 10,980 x 10,980 scene: model-only bound (a) vs end to end (b)
#   3. scripts/bench_train.py on CUDA: samples/s per stage and method (short schedule)
set -uo pipefail
cd "$(dirname "$0")/.."
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

echo "== 1. GPU tests"
timeout 200 python3 -m pytest -q -p no:cacheprovider -rs tests/test_gpu.py 2>&1 | tee "$OUT/gpu_tests.log" || status=1

echo "== 2. predict benchmark, 10,980 x 10,980"
timeout 200 python3 scripts/bench_predict.py --size 10980 --scene-kind random --skip-torchgeo --device cuda \
  --json "$OUT/bench_predict.json" 2>&1 | tee "$OUT/bench_predict.log" || status=1

echo "== 3. training throughput on CUDA"
timeout 120 python3 scripts/bench_train.py --device cuda --threads 8 --batch-size 256 --eo-epochs 2 --sar-epochs 2 \
  --json "$OUT/bench_train.json" 2>&1 | tee "$OUT/bench_train.log" || status=1
exit $status
