#!/usr/bin/env python
"""What the training recipe does on the built-in dataset: with and without augmentation, 'segments' against 'uniform'
sampling, for the frame-averaging baseline `simple` and the recurrent `rnn`, over several seeds.

    python bench/recipe.py --out bench/results/recipe_cpu        # the main job's settings on the CPU (about 5 min a cell)

Each cell of the grid is one `train_videos` run (the main job's settings unless changed: 8 epochs, lr 2e-3, bs 16,
8 frames of 64 px) on the built-in dataset made with that seed; its scenes (groups) 9-10 are the validation set. Then
the exported learners are tested on clips of *new scenes*: the built-in dataset made with another seed (`--new-seed`),
never seen in training. Reported per cell: clip accuracy, video accuracy (3 clips averaged), accuracy on the
order-only pairs (chance is 50%: the baseline must stay near it, augmentation must not leak order into it), and the
video accuracy on the new scenes. Prints a table (means over seeds, and each seed's values) and writes OUT/recipe.json.
"""
import json, shutil, tempfile, time, warnings
from pathlib import Path
warnings.filterwarnings('ignore')

import numpy as np
from fastcore.script import call_parse

from videocls.cli import load_video_learner
from videocls.data.synthetic import make_synthetic_videos
from videocls.data.store import make_store
from videocls.evaluate import video_accuracy
from videocls.train import train_videos

@call_parse
def main(seeds:str='1,2',              # training seeds (each also makes its own built-in dataset)
         modes:str='uniform,segments', # sampling modes
         augment:str='on,off',         # with and without augmentation
         models:str='simple,rnn',      # models
         epochs:int=8,                 # the main job's settings ...
         lr:float=2e-3,
         bs:int=16,
         seq_len:int=8,
         image_size:int=64,
         n_groups:int=10,              # groups (scenes) per class of the training data
         new_seed:int=123,             # seed of the new-scenes test set
         out:str=None,                 # folder for recipe.json
         work:str=None,                # working folder (default: temporary, removed)
        ):
    "Train the grid of recipes on the built-in dataset and test on new scenes; print a table"
    root = Path(work or tempfile.mkdtemp(prefix='recipe-'))
    make_synthetic_videos(root/'new/videos', n_groups=3, clips_per_group=3, seed=new_seed)
    new = make_store(root/'new/videos', root/'new/store', progress=False).clips
    rows = []
    try:
        for seed in [int(s) for s in seeds.split(',')]:
            for aug in augment.split(','):
                for mode in modes.split(','):
                    run = root/f'run-{seed}-{aug}-{mode}'
                    t0 = time.time()
                    data = None  # the built-in dataset, made by train_videos with this seed
                    if n_groups != 10: data = make_synthetic_videos(run/'data/videos', n_groups=n_groups, seed=seed)[0].parents[1]
                    res = train_videos(data, models=models.split(','), out=run, epochs=epochs, lr=lr,
                                       bs=bs, seq_len=seq_len, image_size=image_size, mode=mode, augment=aug == 'on',
                                       flip=False, seed=seed, progress=False)
                    for r in res:
                        learn = load_video_learner(run/f"{r['model']}.pkl")
                        pairs = list(r['pairs'].values())
                        rows.append(dict(seed=seed, augment=aug, mode=mode, model=r['model'], clip=r['accuracy'],
                                         video=r['video_accuracy'], order_only=float(np.mean(pairs)) if pairs else None,
                                         new_scenes=video_accuracy(learn, new, n_clips=3), seconds=round(time.time() - t0)))
                        print(json.dumps(rows[-1]), flush=True)
                    shutil.rmtree(run, ignore_errors=True)
    finally:
        if work is None: shutil.rmtree(root, ignore_errors=True)
    keys = ('clip', 'video', 'order_only', 'new_scenes')
    lines = [f"{'model':<7} {'augment':<8} {'mode':<9} " + ' '.join(f'{k:>18}' for k in keys), '-' * 90]
    for m in models.split(','):
        for aug in augment.split(','):
            for mode in modes.split(','):
                rs = [r for r in rows if (r['model'], r['augment'], r['mode']) == (m, aug, mode)]
                cell = lambda k: f"{np.mean([r[k] for r in rs]):6.1%} (" + ' '.join(f'{r[k]:.0%}' for r in rs) + ')'
                lines.append(f'{m:<7} {aug:<8} {mode:<9} ' + ' '.join(f'{cell(k):>18}' for k in keys))
    table = '\n'.join(lines)
    print('\nmeans over seeds ' + seeds + ' (each seed in brackets); new scenes: dataset seed ' + str(new_seed) + '\n' + table)
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out)/'recipe.json').write_text(json.dumps(rows, indent=1))
        (Path(out)/'recipe.md').write_text(table + '\n')
