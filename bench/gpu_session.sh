#!/usr/bin/env bash
# GPU runs for the closing notes, on the lent H100 (no network there): install the carried wheels (.whl/, see
# FACTS.md for the list) and videocls itself, then run one part: `models` (issue 3 + 4) or `frames` (issue 5).
# Usage from the repo root on the GPU machine: bash bench/gpu_session.sh models|frames
set -eo pipefail
part=${1:-models}
OUT=${OUT:-bench_out}; mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONWARNINGS=ignore
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site
python3 -m pip install -q --no-index --no-deps --no-build-isolation -e . >/dev/null
BIN=$(python3 -c 'import sys, os; print(os.path.dirname(sys.executable))')
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c 'import torch, fastai, av; print("torch", torch.__version__, "fastai", fastai.__version__, "av", av.__version__)'
if [ "$part" = models ]; then
  python3 bench/gpu_models.py 2>&1 | tee "$OUT/gpu_models.log"
  start=$SECONDS
  "$BIN/videocls-train" --models simple,rnn,convlstm,timesformer --epochs 8 \
      --out "$OUT/train" --n-workers 8 2>&1 | grep -v -e 'Epoch [0-9]' -e '^ *|' | tee "$OUT/train.log"
  echo "videocls-train wall $((SECONDS - start)) s" | tee -a "$OUT/train.log"
  python3 -c 'from videocls.data.synthetic import make_synthetic_videos as m; m("/tmp/heldout", n_groups=1, clips_per_group=1, classes=["MoveLeft","MoveRight","Grow","Shrink"], seed=123)'
  "$BIN/videocls-predict" "$OUT/train/rnn.pkl" /tmp/heldout/*/*.avi --k 2 2>&1 | tee "$OUT/predict.log"
  mv "$OUT/train/metrics.json" "$OUT/train_metrics.json"; mv "$OUT/train/rnn-confusion.png" "$OUT/train/rnn-results.png" "$OUT/"
  rm -rf "$OUT/train"
else
  python3 bench/gpu_frame_prediction.py --minutes "${MINUTES:-4}" --out "$OUT/frame_prediction" 2>&1 | tee "$OUT/frame_prediction.log"
  rm -f "$OUT"/frame_prediction/*.pkl "$OUT"/frame_prediction/pred_*.png
fi
