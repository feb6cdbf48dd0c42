#!/usr/bin/env bash
# The GPU lane: on a machine with a GPU (the lent H200), the whole test suite and every notebook with its `#| cuda`
# cells, among them tests/test_loader_exact.py (the clips the loader brings to the GPU are bit-exact with the store's).
# The H200 has PyTorch, timm, einops, pytest, pytest-xdist and pytest-timeout; carry the rest as wheels in .whl/ (no
# network there; FACTS.md): fastai==2.8.12 fastcore fasttransform==0.0.5 plum-dispatch==2.9.0 fastprogress==1.0.3
# fastdownload beartype av rarfile timesformer-pytorch simplejpeg, and for the notebooks nbdev execnb ghapi fastgit
# asttokens astunparse watchdog ipython ipython-pygments-lexers jedi parso prompt-toolkit pexpect ptyprocess stack-data
# executing pure-eval traitlets matplotlib-inline decorator wcwidth (README's pip download command, --python-version 3.12).
# Left out there: the demo's tests and notebook (Gradio is not on that machine; the demo runs on the CPU).
# Usage, from the repository root: COMMIT=<the commit's hash> OUT=<folder for the logs> [PART=tests|notebooks] [LIMIT=seconds] bash bench/gpu_lane.sh
set -o pipefail
OUT=${OUT:-gpu_lane_out}; mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONWARNINGS=ignore::FutureWarning MPLBACKEND=Agg
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
# the wheels go in uncompiled (the device README's command); compile them now, as pip does for a user: a module compiled
# at its first import warns on stderr then (timesformer-pytorch's `amt is 0`), and a test that reads a command's stderr
# whole saw that line on the lane in place of its one-line error (2026-12-07, b6859a9)
python3 -m compileall -q -j 0 /tmp/site >/dev/null 2>&1
python3 -m pip install -q --no-index --no-deps --no-build-isolation -e . >/dev/null || exit 1  # videocls-train etc. on PATH
export PYTHONPATH=/tmp/site PATH=/tmp/site/bin:$PATH
{ echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"; echo "commit: ${COMMIT:-unknown}"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader; echo "kernel: $(uname -r)"
  python3 -c 'import sys, torch, fastai, av; print("python", sys.version.split()[0], "torch", torch.__version__, "fastai", fastai.__version__, "av", av.__version__, "cuda", torch.cuda.is_available())'
} | tee "$OUT/env.txt"
t0=$SECONDS
# PART=all (default): the tests and the notebooks side by side (16 CPUs), pytest in 6 processes, notebooks 6 at a time;
# PART=tests or PART=notebooks: one of them alone, with the whole machine (the lent machine's 10-minute calls: two calls)
# each failure's traceback goes to failures.log as it happens (tests/conftest.py): the time limit cannot cut them off
PART=${PART:-all}; LIMIT=${LIMIT:-540}
run_tests() { VIDEOCLS_FAILURES="$OUT/failures.log" timeout $LIMIT python3 -m pytest tests -n $1 -p no:cacheprovider -rfEs --timeout 300 --ignore tests/test_demo.py > "$OUT/pytest.log" 2>&1; }
run_notebooks() { timeout $LIMIT python3 tests/notebooks.py --only nbdev --flags cuda --jobs $1 --limit $((LIMIT - 40)) --skip 52_demo > "$OUT/notebooks_cuda.log" 2>&1; }
a=0; b=0
case $PART in
  all) run_tests 6 & p1=$!; run_notebooks 6 & p2=$!; wait $p1; a=$?; wait $p2; b=$? ;;
  tests) run_tests 12; a=$? ;;
  notebooks) run_notebooks 10; b=$? ;;
  *) echo "PART must be all, tests or notebooks"; exit 2 ;;
esac
[ -f "$OUT/pytest.log" ] && tail -15 "$OUT/pytest.log"; [ -f "$OUT/notebooks_cuda.log" ] && grep -v '^    ' "$OUT/notebooks_cuda.log"
echo "gpu lane ($PART): pytest exit $a, notebooks exit $b, $((SECONDS - t0)) s" | tee -a "$OUT/env.txt"
[ $a = 0 ] && [ $b = 0 ]
