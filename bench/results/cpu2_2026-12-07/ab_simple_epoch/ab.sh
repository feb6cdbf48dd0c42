#!/bin/bash
# A/B: the main job's `simple` for 3 epochs, the 2026-12-03b code vs HEAD, same venv, same machine, one after the other
cd /tmp
for tree in /tmp/ab_old /work/main /tmp/ab_old /work/main; do
  rm -rf /tmp/ab_run
  echo "== $tree"
  PYTHONPATH=$tree /work/main/.venv/bin/python -c "
import time; t=time.time()
from videocls.train import train_videos
train_videos(models=('simple',), out='/tmp/ab_run', epochs=3, progress=False)
print('total', round(time.time()-t,1))" 2>&1 | grep -E "^ +[0-9]+ |total"
done
