#!/usr/bin/env python
"""What a checkpoint costs (`videocls.checkpoint.Checkpoint`): the size of the model with its AdamW state and the seconds to
write, flush (fsync) and read it back, for the models `videocls-train` trains, against the time of one training epoch
(UCF101's 9,537 training clips, from the clips/s measured in `bench/results`); prints one JSON line per model.

    python bench/checkpoint_cost.py --out /path/on/the/disk/to/measure    # GPU machine: the real models
    python bench/checkpoint_cost.py --tiny                                # CPU smoke test: test_resnet, small frames

`Checkpoint(every_epoch=None)` (the default of `videocls-train`) writes one every few epochs where a checkpoint would
take over 5% of the training time: `gap` below is how many epochs apart that puts them.
"""
import argparse, json, math, os, shutil, tempfile, time
from pathlib import Path

import torch
from fastai.learner import save_model, load_model

from videocls.models import create_video_model
from videocls.learner import VideoAdamW

# (model, arch, frames, size, UCF101-long epoch clips/s on the H200 from bench/results/h200_2026-12-03, 0: unknown)
MODELS = [('simple', 'resnet34', 5, 64, 10882), ('rnn', 'resnet34', 5, 64, 13003), ('simple', 'resnet18', 8, 64, 0),
          ('timesformer', None, 5, 128, 1714)]

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--out', default=None, help='folder on the disk to measure (default: a temporary folder)')
    ap.add_argument('--tiny', action='store_true', help='test_resnet and 32-px frames: a quick run on a CPU')
    ap.add_argument('--repeats', type=int, default=3)
    a = ap.parse_args()
    dev = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    out = Path(tempfile.mkdtemp(dir=a.out))
    models = [('simple', 'test_resnet', 4, 32, 0)] if a.tiny else MODELS
    try:
        for name, arch, t, size, rate in models:
            model, _ = create_video_model(name, 101, **({'arch': arch} if arch else {}), seq_len=t, image_size=size)
            model = model.to(dev)
            opt = VideoAdamW(list(model.parameters()), lr=1e-3)
            model(torch.randn(2, t, 3, size, size, device=dev)).float().sum().backward()
            opt.step()  # AdamW's state exists: what a checkpoint holds after an epoch
            writes, reads = [], []
            for _ in range(a.repeats):
                if dev.type == 'cuda': torch.cuda.synchronize()
                t0 = time.perf_counter()
                with open(out/'model.pth', 'wb') as f:
                    save_model(f, model, opt, with_opt=True); f.flush(); os.fsync(f.fileno())
                writes.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                load_model(out/'model.pth', model, opt, with_opt=True, device=dev if dev.type == 'cuda' else None)
                if dev.type == 'cuda': torch.cuda.synchronize()
                reads.append(time.perf_counter() - t0)
            mb = (out/'model.pth').stat().st_size / 2**20
            epoch_s = 9537 / rate if rate else None
            w = min(writes)
            print(json.dumps(dict(model=name, arch=arch, frames=t, size=size, device=str(dev), mb=round(mb, 1), write_fsync_s=round(w, 3),
                                  read_s=round(min(reads), 3), ucf101_epoch_s=epoch_s and round(epoch_s, 2),
                                  overhead_every_epoch=epoch_s and round(w / epoch_s, 3),
                                  gap=epoch_s and max(1, math.ceil(w / (0.05 * epoch_s))))), flush=True)
            del model, opt
    finally: shutil.rmtree(out, ignore_errors=True)

if __name__ == '__main__': main()
