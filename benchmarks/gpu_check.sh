#!/usr/bin/env bash
# The GPU half of issue #7 in one go (see benchmarks/README.md, "On a lent GPU").
#
# Here (the dev machine, with scikit-learn):
#     python benchmarks/gpu_check.py --export benchmarks/.gpu_data
# Then through the device tool, from the repository root, carrying the exported data:
#     run(command="bash benchmarks/gpu_check.sh", carry=["benchmarks/.gpu_data"], timeout_s=480)
# It prints the equivalence check and the trials/s table, and copies them to $OUT.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if [ -d benchmarks/.gpu_data ]; then
    export METASEARCH_BENCH_DATA="$PWD/benchmarks/.gpu_data"
fi
python -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print(torch.cuda.get_device_name())"
out="${OUT:-/tmp}/gpu_check.md"
python benchmarks/gpu_check.py --k 8 32 --epochs 2 "$@" 2>&1 | tee "$out"
echo "written to $out"
