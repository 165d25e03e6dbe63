#!/usr/bin/env bash
# On a lent GPU machine (see benchmarks/gpu_check.sh for the wheels in .whl/): the PixelCNN recipe sweep of
# benchmarks/pixelcnn_steps.py, every config at once on the GPU, plus the cached samplers' tests on CUDA and a
# pixelcnn trained, then sampled by the CLI on CUDA. Logs and results go to OUT (default /tmp/gpu-pixelcnn).
set -u
OUT=${OUT:-/tmp/gpu-pixelcnn}
SWEEP_SECONDS=${SWEEP_SECONDS:-450}
SWEEP_ARGS=${SWEEP_ARGS:-}  # e.g. "--only base,base_seed1 --scale 0.6"; CHECKS=0 skips the CUDA checks
mkdir -p "$OUT"
source benchmarks/gpu_env.sh || exit 1
# MPS lets the sweep's processes run their small kernels side by side instead of in turns (where it starts)
nvidia-cuda-mps-control -d > "$OUT/checks.log" 2>&1 && echo "MPS started" >> "$OUT/checks.log"
timeout "$SWEEP_SECONDS" python3 benchmarks/pixelcnn_steps.py --device cuda --eval-n 10000 --work /tmp/pixelcnn-steps $SWEEP_ARGS \
  > "$OUT/sweep.log" 2>&1 &
SWEEP=$!
[ "${CHECKS:-1}" = 0 ] || { nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  python3 -c "import torch; print(torch.__version__, torch.version.cuda, torch.cuda.is_available())"
  echo "== cached samplers on CUDA"
  timeout 120 python3 -m pytest -q -p no:cacheprovider -k "cached" tests/models/pixelcnn/test_model.py \
    tests/models/test_gpt.py -W ignore::DeprecationWarning 2>&1 | tail -5
  echo "== pixelcnn on CUDA through the CLI: train 300 steps, sample 16"
  timeout 150 python3 -m genlab train pixelcnn --data mnist --train.steps 300 --train.no-progress \
    --runs-dir /tmp/gpu-px-runs --name p 2>&1 | tail -4
  timeout 60 python3 -m genlab sample /tmp/gpu-px-runs/p -n 16 --out "$OUT/pixelcnn_cuda.png" --overwrite 2>&1 | tail -3
} >> "$OUT/checks.log" 2>&1
echo "checks done at $SECONDS s" >> "$OUT/checks.log"
wait $SWEEP; echo "sweep rc $? at $SECONDS s" >> "$OUT/checks.log"
cp benchmarks/results/pixelcnn_steps.json "$OUT/" 2>/dev/null
tar czf "$OUT/sweep_runs.tgz" -C /tmp/pixelcnn-steps $(cd /tmp/pixelcnn-steps && ls *.json *.log 2>/dev/null)
tail -20 "$OUT/sweep.log"; cat "$OUT/checks.log"
