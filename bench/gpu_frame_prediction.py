#!/usr/bin/env python
"""Train the ConvLSTM frame predictor within a time budget; report held-out MSE against copying the last frame.

On the H100:

    python bench/gpu_frame_prediction.py --minutes 5 --out bench_out/frame_prediction

A short probe measures the seconds per training step (after a warm-up, so cuDNN's autotuning is not counted). The
script then picks how many training sequences (made on the fly, never repeated) fit `--epochs` one-cycle epochs in
the budget, and trains with `videocls.frame_prediction.train_frame_prediction`. It prints the model's MSE on the
held-out sequences next to the copy-last-frame MSE and the blank-frame MSE, and writes OUT/metrics.json,
OUT/prediction.png (the picture) and OUT/export.pkl (the learner, for `load_learner`).
"""
import json, os, time
from pathlib import Path

import torch
from fastcore.script import call_parse
from fastai.torch_core import set_seed

from videocls.data.moving_digits import moving_digits_dls
from videocls.frame_prediction import frame_prediction_learner, train_frame_prediction

def probe_step_time(bs, nf, lr, fp16, size, digit_size, n_past, n_future, device, num_workers, steps):
    "Seconds per training step of a `frame_prediction_learner`, timed on a second `fit` of `steps` steps"
    dls = moving_digits_dls(n_train=steps * bs, n_valid=bs, bs=bs, num_workers=num_workers, device=device,
                            size=size, digit_size=digit_size, seq_len=n_past + n_future, n_past=n_past)
    learn = frame_prediction_learner(dls, nf=nf, fp16=fp16)
    with learn.no_bar(), learn.no_logging():
        learn.fit(1, lr)  # warm-up: cuDNN autotuning, worker start-up, allocator
        if device.type == 'cuda': torch.cuda.synchronize()
        t0 = time.perf_counter()
        learn.fit(1, lr)
        if device.type == 'cuda': torch.cuda.synchronize()
    return (time.perf_counter() - t0) / (steps + 1)  # + 1: about one step's worth of validation

@call_parse
def main(minutes:float=5,       # training budget in minutes (the probe and the final evaluation come on top, ~1 min)
         epochs:int=6,          # one-cycle epochs; the number of training sequences is chosen to fit the budget
         bs:int=32,             # batch size
         nf:int=64,             # hidden channels of the ConvLSTM cells (the write-up's 64)
         lr:float=2e-3,         # peak learning rate
         n_valid:int=512,       # held-out sequences the numbers are measured on
         size:int=64,           # frame side
         digit_size:int=28,     # digit side
         n_past:int=10,         # frames seen
         n_future:int=10,       # frames predicted
         fp16:bool=True,        # mixed precision on a GPU
         out:str='bench_out/frame_prediction', # folder for metrics.json, prediction.png, export.pkl
         device:str=None,       # 'cuda' or 'cpu'; the GPU when there is one if None
         num_workers:int=None,  # DataLoader workers; min(8, CPUs) on a GPU, 0 on the CPU if None
         probe_steps:int=30,    # training steps timed by the probe
         plot_every:int=0,      # also save a picture every this many steps
         seed:int=0,            # seed of data and weights
         progress:bool=True,    # per-epoch table of losses and metrics (bars too in a terminal)
        ):
    "Train the ConvLSTM frame predictor within `minutes`; print held-out MSE vs copy-last-frame and blank MSE"
    dev = torch.device(device or ('cuda' if torch.cuda.is_available() else 'cpu'))
    if dev.type == 'cuda': torch.backends.cudnn.benchmark = True
    nw = num_workers if num_workers is not None else (min(8, os.cpu_count() or 1) if dev.type == 'cuda' else 0)
    set_seed(seed)
    step = probe_step_time(bs, nf, lr, fp16, size, digit_size, n_past, n_future, dev, nw, probe_steps)
    steps_per_epoch = max(1, int(minutes * 60 / epochs / step * 0.95 - n_valid / bs / 3))  # validation ~1/3 of a step per batch
    n_train = steps_per_epoch * bs
    print(f'probe: {step * 1000:.1f} ms per step of {bs} sequences ({bs / step:.0f} sequences/s) on {dev}; '
          f'training {epochs} epochs x {steps_per_epoch} steps = {n_train} sequences per epoch', flush=True)
    res = train_frame_prediction(epochs=epochs, lr=lr, bs=bs, n_train=n_train, n_valid=n_valid, nf=nf, fp16=fp16,
                                 out=out, size=size, digit_size=digit_size, n_past=n_past, n_future=n_future, seed=seed,
                                 device=str(dev), num_workers=nw, plot_every=plot_every, progress=progress)
    res['probe_ms_per_step'] = round(step * 1000, 2)
    mf = Path(res['files']['metrics'])
    (mf.parent/'.partial-metrics.json').write_text(json.dumps(res, indent=2))
    os.replace(mf.parent/'.partial-metrics.json', mf)
    print(f"\nheld-out MSE over {n_valid} sequences x {n_future} frames:")
    print(f"  model      {res['mse']:.5f}")
    print(f"  copy-last  {res['copy_last_mse']:.5f}   (model / copy-last = {res['mse_vs_copy_last']:.3f})")
    print(f"  blank      {res['blank_mse']:.5f}   (model / blank = {res['mse'] / res['blank_mse']:.3f})")
    print(f"trained {res['train_time_s']} s on {res['device']}; beats copy-last: {res['beats_copy_last']}")
    print(f"picture {res['files']['picture']}  metrics {res['files']['metrics']}  model {res['files']['model']}")
