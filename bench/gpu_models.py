#!/usr/bin/env python
"""Train the tutorial's three video models (SimpleModel, RNNModel, TimeSformer) one `fine_tune` epoch each, with
`to_fp16`, on generated UCF101-shaped clips; print a table of epoch times, clips/s and losses.

On the H100 (about 1-2 minutes with the defaults, well under 6):

    python bench/gpu_models.py --out bench_out/models

Locally, without a GPU, a tiny run that checks the whole path works (fp32, no `to_fp16` on the CPU):

    python bench/gpu_models.py --cpu-smoke

Steps: `videocls.testing.make_ucf101_tree` writes real XVID `.avi` clips laid out like UCF101 (in parallel, one
process per group); `videocls.data.frames.videos2frames` turns them into JPEG frames; `get_action_dataloaders` gives
the `ImageTuple` batches, with group 1 as the validation set (so no group leaks between the sets). Each model then runs
`learn.fine_tune(1, freeze_epochs=F)`: with the default `--freeze-epochs 1` that is one epoch with the encoder frozen
(head only; TimeSformer has one parameter group, so everything trains) and one epoch with everything unfrozen, as the
tutorial trains. Every epoch is timed (CUDA synchronised at its ends); "clips/s" counts training clips over the training
part of the epoch. The first epoch of each model includes cuDNN autotuning and DataLoader start-up. The table and
OUT/results.json hold the numbers.

Class colours in `make_ucf101_tree` repeat every 6 classes, so with more classes accuracy is capped: the numbers that
matter here are the times and that the losses fall.
"""
import json, os, shutil, tempfile, time
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

import torch
from fastcore.script import call_parse
from fastai.torch_core import set_seed
from fastai.callback.core import Callback
from fastai.callback.progress import ProgressCallback  # adds `Learner.no_bar`
from fastai.callback.schedule import SchedCos  # adds `Learner.fine_tune`
from fastai.callback.fp16 import MixedPrecision  # adds `Learner.to_fp16`
from fastai.learner import Learner
from fastai.metrics import accuracy

from videocls.testing import make_ucf101_tree
from videocls.data.frames import videos2frames, get_instances
from videocls.data.core import get_action_dataloaders
from videocls.models import create_video_model

class EpochTimer(Callback):
    "Time every epoch (and its training part) and count the training clips"
    order = 100
    def __init__(self): self.epochs = []
    def _sync(self):
        if self.dls.device is not None and torch.device(self.dls.device).type == 'cuda': torch.cuda.synchronize()
    def before_epoch(self): self._sync(); self.t0, self.n = time.perf_counter(), 0
    def after_batch(self):
        if self.training: self.n += len(self.yb[0])
    def after_train(self): self._sync(); self.t_train = time.perf_counter() - self.t0
    def after_epoch(self):
        self._sync()
        self.epochs.append(dict(epoch_s=time.perf_counter() - self.t0, train_s=self.t_train, n_train=self.n))

def make_clips(path_videos, n_classes, n_groups, clips_per_group, n_frames, video_size, n_workers):
    "UCF101-shaped `.avi` clips under `path_videos`, one process per group; return their number"
    classes = [f'Class{i:03d}' for i in range(n_classes)]
    f = partial(make_ucf101_tree, path_videos, classes, clips_per_group=clips_per_group, n_frames=n_frames, size=video_size)
    with ProcessPoolExecutor(max(1, min(n_workers, n_groups))) as ex:
        return sum(len(files) for files in ex.map(f, [(g,) for g in range(1, n_groups + 1)]))

def model_kwargs(name, a):
    "Keyword arguments of `create_video_model` for model `name` from the parsed arguments `a`"
    if name == 'timesformer':
        return dict(patch_size=a['patch_size'], dim=a['tsf_dim'], depth=a['tsf_depth'], heads=a['tsf_heads'],
                    dim_head=a['tsf_dim_head'])
    kw = dict(arch=a['arch'])
    if name == 'rnn': kw.update(hidden_size=a['hidden'], num_rnn_layers=a['rnn_layers'])
    if name in ('convlstm', 'convgru', 'convrnn'): kw.update(hidden=a['conv_hidden'])
    return kw

def train_one(name, dls, a, fp16):
    "Build model `name`, `fine_tune(1)` it; return per-epoch times and the final losses"
    model, splitter = create_video_model(name, dls.c, seq_len=a['seq_len'], image_size=a['image_size'], **model_kwargs(name, a))
    timer = EpochTimer()
    learn = Learner(dls, model, metrics=accuracy, splitter=splitter, cbs=timer)
    if fp16: learn = learn.to_fp16()
    n_params = sum(p.numel() for p in model.parameters())
    t0 = time.perf_counter()
    if a['progress']: learn.fine_tune(1, base_lr=a['lr'], freeze_epochs=a['freeze_epochs'])
    else:
        with learn.no_bar(), learn.no_logging(): learn.fine_tune(1, base_lr=a['lr'], freeze_epochs=a['freeze_epochs'])
    total = time.perf_counter() - t0
    train_loss, valid_loss, acc = (float(v) for v in learn.recorder.values[-1])
    return dict(model=name, params=n_params, groups=len(splitter(model)), total_s=total, epochs=timer.epochs, train_loss=train_loss,
                valid_loss=valid_loss, accuracy=acc)

def print_table(results):
    "Print one row per epoch of each model"
    print(f"\n{'model':<12} {'params':>8} {'epoch':>5} {'phase':>6} {'epoch s':>8} {'train s':>8} {'clips/s':>8} "
          f"{'train loss':>10} {'valid loss':>10} {'acc':>6}")
    for r in results:
        n = len(r['epochs'])
        for i, e in enumerate(r['epochs']):
            first, last = i == 0, i == n - 1
            name, params = (r['model'], f"{r['params']/1e6:.1f}M") if first else ('', '')
            losses = (f"{r['train_loss']:.4f}", f"{r['valid_loss']:.4f}", f"{r['accuracy']:.3f}") if last else ('', '', '')
            print(f"{name:<12} {params:>8} {i:>5} {'all' if last or r['groups'] == 1 else 'frozen':>6} {e['epoch_s']:>8.2f} {e['train_s']:>8.2f} "
                  f"{e['n_train']/e['train_s']:>8.1f} {losses[0]:>10} {losses[1]:>10} {losses[2]:>6}")

@call_parse
def main(models:str='simple,rnn,timesformer', # comma-separated names from `videocls.models.video_model_names`
         n_classes:int=20,        # classes of generated clips
         n_groups:int=8,          # UCF101 groups per class (group 1 is the validation set); one writing process each
         clips_per_group:int=4,   # clips per group and class
         n_frames:int=40,         # frames per generated clip
         video_size:str='320x240',# generated video size, WxH (UCF101 is 320x240)
         image_size:int=64,       # frames are resized to this (TimeSformer: a multiple of --patch-size)
         seq_len:int=20,          # frames per clip fed to the models (the data layer's default)
         bs:int=32,               # batch size
         lr:float=2e-3,           # `fine_tune`'s base_lr
         freeze_epochs:int=1,     # `fine_tune`'s frozen epochs (0: a single all-unfrozen epoch)
         arch:str='torchvision.resnet34', # encoder of the CNN models: 'torchvision.<name>' or a timm name
         hidden:int=512,          # RNNModel LSTM hidden size (the tutorial's 512)
         rnn_layers:int=1,        # RNNModel LSTM layers
         conv_hidden:int=128,     # hidden channels of the conv-recurrent models
         patch_size:int=16,       # TimeSformer patch size (the tutorial's 16)
         tsf_dim:int=128,         # TimeSformer token width (the tutorial's 128)
         tsf_depth:int=12,        # TimeSformer blocks (the tutorial's 12)
         tsf_heads:int=8,         # TimeSformer heads (the tutorial's 8)
         tsf_dim_head:int=64,     # TimeSformer head width (the tutorial's 64)
         n_workers:int=None,      # processes writing clips and converting them to frames (default: CPUs)
         num_workers:int=None,    # DataLoader workers (default: min(8, CPUs) on a GPU, 0 on the CPU)
         fp16:bool=True,          # train with `learn.to_fp16()` (only on a GPU)
         work:str=None,           # folder for the generated videos and frames (default: a temporary folder, removed)
         out:str=None,            # folder for results.json
         seed:int=0,              # seed of the split, weights and batches
         progress:bool=False,     # fastai's progress bars and per-epoch table
         cpu_smoke:bool=False,    # tiny sizes on the CPU: check the script runs end to end (no timings worth reading)
        ):
    "Train SimpleModel, RNNModel and TimeSformer one `fine_tune` epoch each with `to_fp16`; print epoch times"
    a = dict(locals())
    if cpu_smoke:
        a.update(n_classes=2, n_groups=3, clips_per_group=1, n_frames=6, video_size='64x48', image_size=32, seq_len=3,
                 bs=2, arch='test_resnet', hidden=16, conv_hidden=8, patch_size=8, tsf_dim=32, tsf_depth=1, tsf_heads=2,
                 tsf_dim_head=16)
    dev = torch.device('cpu' if cpu_smoke or not torch.cuda.is_available() else 'cuda')
    fp16 = fp16 and dev.type == 'cuda'
    if dev.type == 'cuda': torch.backends.cudnn.benchmark = True
    cpus = os.cpu_count() or 1
    n_workers = a['n_workers'] or cpus
    nw = a['num_workers'] if a['num_workers'] is not None else (min(8, cpus) if dev.type == 'cuda' else 0)
    w, h = (int(v) for v in a['video_size'].lower().split('x'))
    print(f"device {dev} ({torch.cuda.get_device_name(dev) if dev.type == 'cuda' else 'cpu'}), torch {torch.__version__}, "
          f"fp16 {fp16}, {cpus} CPUs")
    set_seed(seed)
    root = Path(work) if work else Path(tempfile.mkdtemp(prefix='videocls-bench-'))
    try:
        t0 = time.perf_counter()
        n_clips = make_clips(root/'UCF-101', a['n_classes'], a['n_groups'], a['clips_per_group'], a['n_frames'], (w, h), n_workers)
        t_gen = time.perf_counter() - t0
        t0 = time.perf_counter()
        rep = videos2frames(root/'UCF-101', root/'frames', n_workers=n_workers, progress=False)
        t_frames = time.perf_counter() - t0
        if rep.failed: raise RuntimeError(f'{len(rep.failed)} clips failed to convert: {list(rep.failed.items())[:3]}')
        files = get_instances(root/'frames')
        val_idxs = [i for i, f in enumerate(files) if '_g01_' in f.name]
        dls = get_action_dataloaders(files, bs=a['bs'], image_size=a['image_size'], seq_len=a['seq_len'], val_idxs=val_idxs,
                                     num_workers=nw, device=dev)
        print(f"{n_clips} clips of {a['n_frames']} frames {w}x{h}: written in {t_gen:.1f}s, to frames in {t_frames:.1f}s; "
              f"{len(dls.train_ds)} train / {len(dls.valid_ds)} valid clips, {dls.c} classes, seq_len {a['seq_len']}, "
              f"{a['image_size']}px, bs {a['bs']}, fine_tune(1, freeze_epochs={a['freeze_epochs']})")
        results = []
        for name in a['models'].split(','):
            set_seed(seed)
            r = train_one(name.strip(), dls, a, fp16)
            results.append(r)
            print(f"{r['model']}: {r['total_s']:.1f}s, final train loss {r['train_loss']:.4f}", flush=True)
        print_table(results)
        if out:
            Path(out).mkdir(parents=True, exist_ok=True)
            settings = {k: v for k, v in a.items() if k not in ('out', 'work')}
            (Path(out)/'results.json').write_text(json.dumps(dict(device=str(dev), fp16=fp16, settings=settings,
                gen_s=t_gen, frames_s=t_frames, n_clips=n_clips, results=results), indent=1))
            print(f'wrote {Path(out)/"results.json"}')
    finally:
        if not work: shutil.rmtree(root, ignore_errors=True)
