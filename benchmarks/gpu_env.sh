# Sourced by the GPU scripts (gpu_check.sh, gpu_pixelcnn_steps.sh) from the repository root: installs the wheels in
# .whl/ (genlab's dependencies that a lent GPU machine lacks; gpu_check.sh's header says how to fetch them) into
# /tmp/site and puts it and this checkout on PYTHONPATH. Where genlab is installed normally there is no .whl/ and
# nothing happens. Returns non-zero when the install fails.
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || return 1
  export PYTHONPATH=/tmp/site:$PWD
fi
export PYTHONUNBUFFERED=1
