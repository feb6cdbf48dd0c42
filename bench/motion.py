#!/usr/bin/env python
"""Which model tells frame order apart on the built-in dataset at the main job's budget (issue 26, item 7).

    python bench/motion.py --out bench/results/motion_cpu2_2026-12-07          # on this 2-core CPU
    python bench/motion.py --models r3d_18,mc3_18,r2plus1d_18 --out DIR        # the 3D CNNs (a GPU: see below)

Each run is the main job (`train_videos()` with `TrainRecipe`'s defaults: the built-in dataset of 10 classes, 240
training and 60 validation clips of groups 9-10, 8 epochs of `fit_one_cycle` at lr 2e-3, bs 16, 8 frames of 64x64,
no augmentation), one model, from scratch, with `--seeds` seeds (each seed makes other data, another split order and
other weights). Reported per run: clip accuracy over the 10 classes, the order-only accuracy (the validation clips of
the classes that differ only in frame order, `MoveLeft`/`MoveRight`, `MoveUp`/`MoveDown`, `RotateCW`/`RotateCCW`,
`Grow`/`Shrink`: chance is 50%) and the training minutes; a JSON line each (OUT/motion.jsonl) and a table
(OUT/motion.md) with the mean and the worst seed.

Models (`--models`, comma-separated model specs: `name` or `name:key=value:...`, as `videocls-train --models` takes them): `rnn` (the main job's temporal model until 2026-12-07;
now it is `convlstm:stride=8`), `convlstm` with its encoder tapped at stride 32 (the last maps: 2x2 for a 64-pixel frame), 16 and 8 (4x4 and 8x8),
and torchvision's 3D CNNs from scratch. The 3D CNNs' training steps are slow on a CPU (PyTorch's 3D convolutions: a
r3d_18 step of 4 clips of 8 frames of 64x64 took seconds here), which puts them outside the main job's CPU budget;
their accuracy at the same recipe is measured where they run in seconds, on a GPU.
"""
import json, os, time, warnings
from pathlib import Path
warnings.filterwarnings('ignore')

import numpy as np
import torch
from fastcore.script import call_parse

from videocls.train import train_videos, TrainRecipe

def table(rows)->str:
    out = ['| model | seeds | order-only, mean (worst) | per seed | accuracy, mean (worst) | per seed | training minutes, mean |', '|---|---|---|---|---|---|---|']
    for spec in dict.fromkeys(r['spec'] for r in rows):
        rs = [r for r in rows if r['spec'] == spec]
        o, a, m = (np.array([r[k] for r in rs]) for k in ('order_only', 'accuracy', 'train_minutes'))
        out.append(f"| `{spec}` | {', '.join(str(r['seed']) for r in rs)} | {o.mean():.1%} ({o.min():.1%}) | {' '.join(f'{v:.0%}' for v in o)} | "
                   f"{a.mean():.1%} ({a.min():.1%}) | {' '.join(f'{v:.0%}' for v in a)} | {m.mean():.1f} |")
    return '\n'.join(out)

@call_parse
def main(models:str='rnn,convlstm,convlstm:stride=16,convlstm:stride=8', # model specs, comma-separated
         seeds:str='1,2,3', # seeds
         out:str='motion-runs', # folder for motion.jsonl, motion.md and the runs
         n_workers:int=None, # store and loader processes
         keep:bool=False, # keep each run's folder (learners, pictures)
        ):
    "The main job's recipe, one model and seed at a time: order-only and overall accuracy, training minutes"
    out = Path(out); out.mkdir(parents=True, exist_ok=True)
    rows = []
    for spec in models.split(','):
        for seed in map(int, seeds.split(',')):
            run = out/f"{spec.replace(':', '_').replace('=', '')}-seed{seed}"
            t0 = time.time()
            res = train_videos(None, models=(spec,), out=run, progress=False, seed=seed, n_workers=n_workers)[0]  # a model spec: its options
            order = float(np.mean(list(res['pairs'].values())))
            row = dict(spec=spec, seed=seed, accuracy=res['accuracy'], order_only=order, pairs=res['pairs'],
                       train_minutes=res['train_seconds'] / 60, wall_minutes=(time.time() - t0) / 60,
                       device='cuda' if torch.cuda.is_available() else f'cpu x{os.cpu_count()}')
            rows.append(row)
            print(json.dumps(row), flush=True)
            with open(out/'motion.jsonl', 'a') as f: f.write(json.dumps(row) + '\n')
            if not keep:
                for p in sorted(run.rglob('*'), reverse=True): p.unlink() if p.is_file() else p.rmdir()
                run.rmdir()
    t = table(rows)
    print('\n' + t)
    (out/'motion.md').write_text(t + '\n')
