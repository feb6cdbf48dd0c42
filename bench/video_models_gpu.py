#!/usr/bin/env python
"""Pretrained-family video models at the sizes people train them at, on the GPU, each epoch next to a plain bf16 loop (issue 26).

    python bench/video_models_gpu.py --out bench/results/h100_2026-12-07/video_models   # on the GPU machine (about 8 minutes)
    python bench/video_models_gpu.py --cpu-smoke                                         # tiny, on a CPU: checks the script runs

Models (random weights: the speed of a model does not depend on its weights): torchvision's r2plus1d_18 at 112 px x 16
frames, Hugging Face's VideoMAE-B (`videomae`, transformers' base config) at 224 px x 16, and videocls's TimeSformer at
224 px x 8 (compiled, as `video_learner` does on a GPU). For each, in one process on one GPU:

- `plain`: a plain training loop on batches already on the GPU: bf16 autocast, torch's fused AdamW, cross-entropy, the
  same model and memory format as the learner's; clips/s at each batch size of `--bss` until one does not fit (the
  largest that fits is reported), the best of three timings at the batch size the epoch uses;
- `epoch`: one epoch through the public API, timed after a warm-up epoch: `make_store` (done once per frame size),
  `get_action_dataloaders(..., preset=...)`, `video_learner(dls, name)`, `learn.fit(1)`: training and validation, as a
  user runs it; the training set is listed `repeat` times so that the timed epoch lasts about `--epoch-s` seconds of the
  plain loop's rate (a fixed cost per epoch weighs as it would on a dataset of that length), and the peak GPU memory;
- `loader`: clips/s the training loader alone delivers to the GPU (same DataLoaders, 16 workers), to compare with what
  the model consumes (goal: at least 2x);
- `memory format` and `compile` (r2plus1d_18 and VideoMAE): the plain loop with channels-last-3d off and on, and with the
  body compiled (`torch.compile`, default mode), to say where they pay.

Each measurement is a JSON line (also appended to OUT/video_models.jsonl); a table comes last (OUT/video_models.md).
Videos are UCF101-shaped (320x240 MPEG-4, `--n-frames` frames; the seed tutorial's generator, bench/seed_pipeline.py).
"""
import copy, gc, importlib.util, json, os, shutil, sys, tempfile, time, warnings
from pathlib import Path
warnings.filterwarnings('ignore')

import torch
from torch import nn
from fastcore.script import call_parse
from fastcore.parallel import parallel
from fastcore.foundation import L

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from videocls.data.store import make_store
from videocls.data.ucf101 import ucf101_group
from videocls.data.core import get_action_dataloaders
from videocls.models import create_video_model, video_preset
from videocls.learner import video_learner, _memory_format

def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = sys.modules[name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod

cp = _load('clip_pipeline', ROOT/'bench/clip_pipeline.py')  # its clip jobs, listings and timers
RESULTS, T0 = [], time.time()

def emit(out, **kw):
    kw['t'] = round(time.time() - T0, 1)
    RESULTS.append(kw)
    line = json.dumps(kw)
    print(line, flush=True)
    if out: open(Path(out)/'video_models.jsonl', 'a').write(line + '\n')

STEPS = 20  # timed steps of the plain loop (the CPU smoke run takes 1)

def plain_rate(model, bs:int, seq_len:int, size:int, dev:str, steps:int=None, channels_last:bool=True, compile:bool=False)->float:
    "Training clips/s of a copy of `model` on one random batch already on `dev`: bf16 autocast, fused AdamW, cross-entropy"
    m = copy.deepcopy(model).to(dev).train()
    fmt = _memory_format(m)
    if channels_last and fmt is not None and dev == 'cuda': m = m.to(memory_format=fmt)
    if compile: m.body.compile()
    opt = torch.optim.AdamW(m.parameters(), 1e-4, fused=dev == 'cuda')
    x = torch.randn(bs, seq_len, 3, size, size, device=dev)  # (B, T, C, H, W)
    y = torch.randint(0, m.n_out, (bs,), device=dev)
    def step():
        with torch.autocast(dev, dtype=torch.bfloat16, enabled=dev == 'cuda'): loss = nn.functional.cross_entropy(m(x).float(), y)
        loss.backward(); opt.step(); opt.zero_grad(set_to_none=True)
    steps = steps or STEPS
    for _ in range(3 if dev == 'cuda' else 1): step()
    el, _ = cp.timed(lambda: [step() for _ in range(steps)], dev)
    del m, opt, x
    return bs * steps / el

def free(dev):
    gc.collect()
    if dev == 'cuda': torch.cuda.empty_cache(); torch.cuda.reset_peak_memory_stats()

def table()->str:
    get = lambda **kw: [r for r in RESULTS if all(r.get(k) == v for k, v in kw.items())]
    rows = [('model', 'size', 'bs', 'epoch clips/s', 'plain loop clips/s', 'epoch / plain time', 'loader alone clips/s',
             'loader / epoch', 'peak GB (epoch)', 'largest bs (plain)')]
    for e in get(step='epoch'):
        m = e['model']
        ld = get(step='loader', model=m)[0]['clips_per_s']
        fit = [r['bs'] for r in get(step='plain_bs', model=m) if r.get('clips_per_s')]
        rows.append((m, f"{e['size']} px x {e['seq_len']}", e['bs'], f"{e['clips_per_s']:,.0f}", f"{e['plain_per_s']:,.0f}",
                     f"{e['plain_per_s'] / e['clips_per_s']:.2f}x", f"{ld:,.0f}", f"{ld / e['clips_per_s']:.1f}x",
                     f"{e['peak_gb']:.1f}", max(fit) if fit else '-'))
    out = cp.fmt_table(rows)
    rows = [('model', 'bs', 'plain, channels-last', 'plain, channels-first', 'plain, compiled', 'compile s')]
    for m in dict.fromkeys(r['model'] for r in get(step='variant')):
        v = {r['variant']: r for r in get(step='variant', model=m)}
        f = lambda k: f"{v[k]['clips_per_s']:,.0f}" if k in v else '-'
        rows.append((m, next(iter(v.values()))['bs'], f('channels_last'), f('channels_first'), f('compiled'),
                     f"{v['compiled']['compile_s']:.0f}" if 'compiled' in v else '-'))
    return out + '\n\n' + cp.fmt_table(rows)

@call_parse
def main(models:str='r2plus1d_18,videomae,timesformer', # which to run
         n_videos:int=320,         # generated clips (of `n_classes` classes in groups of as many; groups 1-16 train, 17-20 validate)
         n_classes:int=16,         # classes
         n_frames:int=96,          # frames per clip
         bss:str='8,16,32,64,128,256', # batch sizes the plain loop tries, smallest first
         epoch_s:float=20.,        # target seconds of a timed epoch (at the plain loop's rate)
         workers:int=None,         # processes for generation, stores and loaders (default: CPUs, at most 16)
         variants:bool=True,       # channels-last and compile variants of the plain loop
         out:str=None,             # folder for video_models.jsonl and video_models.md
         root:str=None,            # working folder (default: a temporary one, removed)
         cpu_smoke:bool=False,     # tiny sizes on the CPU: check that the script runs
        ):
    "Epoch vs plain-loop clips/s, loader alone, peak memory and largest batch for pretrained-family video models on a GPU"
    dev = 'cuda' if torch.cuda.is_available() and not cpu_smoke else 'cpu'
    workers = workers or min(os.cpu_count() or 1, 16)
    configs = {'r2plus1d_18': (112, 16, {}), 'videomae': (224, 16, {}), 'timesformer': (224, 8, {})}
    if cpu_smoke:
        global STEPS
        n_videos, n_classes, n_frames, bss, epoch_s, STEPS = 40, 2, 20, '2', 0.5, 1
        configs = {'r2plus1d_18': (32, 4, {}), 'videomae': (32, 4, dict(patch_size=8, hidden_size=32, num_hidden_layers=1,
                   num_attention_heads=2, intermediate_size=32)), 'timesformer': (32, 4, dict(patch_size=8, dim=32, depth=1, heads=2, dim_head=16))}
    if out: Path(out).mkdir(parents=True, exist_ok=True)
    sp = cp.load_seed(ROOT/'bench/seed_pipeline.py')
    work = Path(root or tempfile.mkdtemp(prefix='vmbench-'))
    emit(out, step='setup', torch=torch.__version__, device=torch.cuda.get_device_name() if dev == 'cuda' else 'cpu', cpus=os.cpu_count(),
         workers=workers, n_videos=n_videos, n_frames=n_frames)
    try:
        jobs = [(v, n, w, h, s) for v, n, w, h, s in cp.clip_jobs(work/'videos', n_videos, n_classes, n_frames)]
        el, _ = cp.timed(lambda: parallel(sp._mk, jobs, n_workers=workers, progress=False), 'cpu')
        emit(out, step='gen', s=el)
        stores = {}
        for name in models.split(','):
            size, t, kw = configs[name]
            min_size = 16 if cpu_smoke else size  # 112: frames of 160x120; 224: the videos' own 320x240
            if min_size not in stores:
                el, stores[min_size] = cp.timed(lambda: make_store(work/'videos', work/f'store{min_size}', min_size=min_size, n_workers=workers,
                                                                   progress=False, group_fn=ucf101_group), 'cpu')
                emit(out, step='store', min_size=min_size, s=el, clips_per_s=n_videos / el)
            clips = stores[min_size].clips
            n_out = len(stores[min_size].vocab)
            preset = video_preset(name) if name != 'videomae' and name != 'timesformer' else None  # r2plus1d_18: Kinetics' stats
            model, _ = create_video_model(name, n_out, seq_len=t, image_size=size, **kw)
            rates = {}
            for b in [int(o) for o in bss.split(',')]:
                try: rates[b] = plain_rate(model, b, t, size, dev)
                except torch.OutOfMemoryError: rates[b] = None
                free(dev)
                emit(out, step='plain_bs', model=name, size=size, seq_len=t, bs=b, clips_per_s=rates[b])
                if rates[b] is None: break
            ok = {b: r for b, r in rates.items() if r}
            best = max(ok.values())
            bs = next(b for b, r in ok.items() if r >= 0.9 * best)  # the smallest within 10% of the best (pick_bs's rule)
            plain = max(plain_rate(model, bs, t, size, dev) for _ in range(3 if dev == 'cuda' else 1))
            free(dev)
            if variants and name != 'timesformer':
                emit(out, step='variant', model=name, bs=bs, variant='channels_last', clips_per_s=plain)
                emit(out, step='variant', model=name, bs=bs, variant='channels_first', clips_per_s=max(plain_rate(model, bs, t, size, dev, channels_last=False) for _ in range(2)))
                free(dev)
            if variants and name != 'timesformer' and dev == 'cuda':  # compiling on a CPU smoke run would take minutes
                t0 = time.time()
                plain_rate(model, bs, t, size, dev, steps=1, compile=True)  # the compile, timed
                compile_s = time.time() - t0
                comp = plain_rate(model, bs, t, size, dev, compile=True)   # a fresh copy, compiled again from the warm cache
                emit(out, step='variant', model=name, bs=bs, variant='compiled', clips_per_s=comp, compile_s=compile_s)
                free(dev)
                torch._dynamo.reset()
            n_train = sum(1 for c in clips if c.group <= 16)
            repeat = max(1, round(epoch_s * plain / n_train))
            items, val = cp.listing(clips, repeat, last_train_group=16)
            dls = get_action_dataloaders(items, bs=bs, seq_len=t, image_size=size, preset=preset, val_idxs=val, num_workers=workers, device=dev)
            ld = cp.loader_rate(dls.train, dev, n_batches=min(40, len(dls.train) - 5))
            emit(out, step='loader', model=name, size=size, seq_len=t, bs=bs, clips_per_s=ld)
            learn = video_learner(dls, name, **kw)
            free(dev)
            rate = cp.epoch_rate(learn, dev)
            peak = torch.cuda.max_memory_allocated() / 1e9 if dev == 'cuda' else 0.
            emit(out, step='epoch', model=name, size=size, seq_len=t, bs=bs, epoch_clips=len(items), clips_per_s=rate, plain_per_s=plain,
                 peak_gb=peak, precision=learn.precision, compiled=any('Compile' in type(c).__name__ for c in learn.cbs))
            del learn, dls, model
            free(dev)
            torch._dynamo.reset()
    finally:
        if root is None: shutil.rmtree(work, ignore_errors=True)
    t = table()
    print('\n' + t)
    if out: (Path(out)/'video_models.md').write_text(t + '\n')
