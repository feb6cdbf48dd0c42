#!/usr/bin/env python
"""Does `torch.compile` pay for the CNN video models' training step? The tutorial's baseline (`simple`) and CNN+LSTM
(`rnn`) with a torchvision resnet34 encoder, 64 px x 5 frames, bs 256, bf16 autocast, channels-last, on one GPU:
eager against `torch.compile(model)` and `torch.compile(model, mode='reduce-overhead')` (CUDA graphs).

On the H200 (about 3-4 minutes; no new compile is started after `--budget-s`, 160 s by default):

    python3 bench/compile_step.py                   # writes bench/results/h200_2026-12-03/compile_step.{jsonl,md}

Locally, without a GPU, a tiny run that checks the script runs (timm's `test_resnet`, fp32, the `aot_eager` backend so
that no C++ compile is needed; numbers meaningless):

    python3 bench/compile_step.py --cpu-smoke       # writes to <tmp>/videocls_bench_smoke/

The loop is `videocls.train.train_step_rate`'s: random clips already on the GPU, autocast, cross-entropy, the optimiser of
`video_learner` (`VideoAdamW`: torch AdamW, betas 0.9/0.99, eps 1e-5, weight decay 0.01, foreach), `zero_grad(set_to_none)`;
the model comes from `videocls.models.create_video_model` (same seed for every mode). For each model and mode:

- `first_s`: the wall time of each of the first `--first` steps (synchronised): compilation, cuDNN autotuning, CUDA
  graph recording happen there; `overhead_s` is their sum less `--first` steady steps;
- `clips_s`: the best of `--reps` timings of `--steps` steps (CUDA events) after `--warmup` more steps;
- `repay_steps` / `repay_clips` / `repay_epochs`: how many steady steps (clips, UCF101 training epochs of `--epoch-clips`
  clips) the compiled step needs to win back its extra first-steps time over eager's: `(overhead - eager overhead) /
  (eager step - compiled step)`; none when it is not faster;
- `graph_breaks`, `unique_graphs`, `cudagraph_skips`: from `torch._dynamo.utils.counters`.

Each mode runs with two inputs: the clip stacked `(B, T, C, H, W)` (`input='tensor'`, compute-only as `train_step_rate`)
and what fastai's `Learner` hands a model from videocls's data layer, an `ImageTuple` of `T` `TensorImage` frames
(`input='ImageTuple'`; fastai's tensor subclass costs dynamo a graph break where `stack_clip` strips it). Every job starts
from a fresh model of the same seed (so the first losses agree across modes) and a fresh compile. Eager jobs run
first, then the compiled ones on stacked clips, then on `ImageTuple`s.

Compile times: Inductor's on-disk caches are off (`TORCHINDUCTOR_FX_GRAPH_CACHE=0`, `TORCHINDUCTOR_AUTOGRAD_CACHE=0`;
`--warm-cache` keeps them), but kernels compiled earlier in this process can be reused: the first compile of the run
(`simple`, default mode) is the cold one, later ones may be cheaper than in a fresh process. Use `--models`/`--modes`
to time one configuration in a process of its own.
"""
import os, sys
if '--warm-cache' not in sys.argv:  # before torch is imported: no compiled graphs from earlier runs
    os.environ.setdefault('TORCHINDUCTOR_FX_GRAPH_CACHE', '0'); os.environ.setdefault('TORCHINDUCTOR_AUTOGRAD_CACHE', '0')
import gc, json, platform, tempfile, time
from pathlib import Path

import torch
import torch._dynamo
import torch.nn.functional as F
from torch._dynamo.utils import counters
from fastcore.script import call_parse
from fastai.torch_core import TensorImage

from videocls.models import create_video_model
from videocls.data.clip import ImageTuple

HERE = Path(__file__).resolve().parent
N_OUT = 101

def sync(dev):
    if dev.type == 'cuda': torch.cuda.synchronize()

def time_steps(step, n:int, dev)->float:
    "Seconds for `n` calls of `step` (CUDA events on a GPU)"
    if dev.type == 'cuda':
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        for _ in range(n): step()
        b.record(); b.synchronize()
        return a.elapsed_time(b) / 1000
    t0 = time.perf_counter()
    for _ in range(n): step()
    return time.perf_counter() - t0

def make_step(model, inp, y, dtype):
    "`train_step_rate`'s step: autocast forward, cross-entropy, backward, `VideoAdamW`'s AdamW; returns the loss"
    opt = torch.optim.AdamW(model.parameters(), 1e-4, betas=(0.9, 0.99), eps=1e-5, weight_decay=0.01, foreach=True)
    dev_type = y.device.type
    def step():
        with torch.autocast(dev_type, dtype=dtype, enabled=dtype is not None):
            loss = F.cross_entropy(model(inp).float(), y)
        loss.backward(); opt.step(); opt.zero_grad(set_to_none=True)
        return loss
    return step

def dynamo_counters()->dict:
    gb = counters.get('graph_break', {})
    return dict(graph_breaks=sum(gb.values()), graph_break_reasons=[str(k)[:160] for k in list(gb)[:5]],
                unique_graphs=counters.get('stats', {}).get('unique_graphs', 0),
                cudagraph_skips=counters.get('inductor', {}).get('cudagraph_skips', 0))

def measure(step, dev, bs, first, warmup, steps, reps)->dict:
    "First steps one by one (wall, synchronised), then the best of `reps` timings of `steps` steps"
    first_s, losses = [], []
    for _ in range(first):
        t0 = time.perf_counter(); loss = step(); sync(dev); first_s.append(time.perf_counter() - t0)
        losses.append(loss.item())
    for _ in range(warmup): step()
    times = [time_steps(step, steps, dev) for _ in range(reps)]
    step_s = min(times) / steps
    return dict(first_s=[round(t, 3) for t in first_s], first_losses=[round(l, 4) for l in losses], step_ms=round(1000 * step_s, 3),
                clips_s=round(bs / step_s, 1), rates=[round(bs * steps / t, 1) for t in times],
                overhead_s=round(sum(first_s) - first * step_s, 2))

def repay(r:dict, eager:dict, bs:int, epoch_clips:int)->dict:
    "Steps, clips and epochs of steady compiled training that win back its extra first-steps time over eager"
    gain = eager['step_ms'] - r['step_ms']
    extra = r['overhead_s'] - eager['overhead_s']
    if gain <= 0: return dict(repay_steps=None, repay_clips=None, repay_epochs=None, faster=False)
    n = max(0., extra) / (gain / 1000)
    return dict(repay_steps=round(n), repay_clips=round(n * bs), repay_epochs=round(n * bs / epoch_clips, 2), faster=True)

def table(lines)->str:
    env = next((l for l in lines if l['part'] == 'env'), {})
    out = [f"# torch.compile for the CNN video models' training step, {env.get('device', '?')}", '',
           f"torch {env.get('torch')}, Python {env.get('python')}; {env.get('arch')}, {env.get('size')} px x {env.get('frames')} frames, "
           f"bs {env.get('bs')}, {env.get('dtype')}, channels_last {env.get('channels_last')}; backend {env.get('backend')}; "
           f"on-disk compile caches {'kept' if env.get('warm_cache') else 'off'}; {env.get('date')}; wall {lines[-1].get('wall_s', '?')} s", '',
           '| model | mode | input | clips/s | ms/step | first steps, s | overhead vs steady, s | repay: steps / clips / UCF101 epochs | graph breaks | graphs | cudagraph skips | first loss |',
           '|---|---|---|---|---|---|---|---|---|---|---|---|']
    for l in lines:
        if l['part'] != 'step': continue
        if not l.get('ok', True):
            out += [f"| {l['model']} | {l['mode']} | {l['input']} | failed: {l.get('error')} | | | | | | | | |"]; continue
        rp = ('faster: pays at once' if l.get('repay_steps') == 0 else f"{l['repay_steps']:,} / {l['repay_clips']:,} / {l['repay_epochs']}"
              ) if l.get('faster') else ('-' if l['mode'] == 'eager' else 'not faster')
        out += [f"| {l['model']} | {l['mode']} | {l['input']} | {l['clips_s']:,.0f} | {l['step_ms']} | {', '.join(map(str, l['first_s']))} | "
                f"{l['overhead_s']} | {rp} | {l.get('graph_breaks', '-')} | {l.get('unique_graphs', '-')} | {l.get('cudagraph_skips', '-')} | {l['first_losses'][0]} |"]
    skipped = [l for l in lines if l['part'] == 'skipped']
    if skipped: out += ['', 'Skipped: ' + '; '.join(f"{l['what']} ({l['why']})" for l in skipped)]
    return '\n'.join(out)

@call_parse
def main(out:str=None,            # folder for compile_step.jsonl and .md (default: bench/results/h200_2026-12-03)
         models:str='simple,rnn', # comma-separated: 'simple', 'rnn'
         modes:str='eager,default,reduce-overhead', # comma-separated: 'eager', 'default' (torch.compile(model)), 'reduce-overhead'
         arch:str='torchvision.resnet34', # encoder (the tutorial's resnet34)
         size:int=64,             # frame size
         frames:int=5,            # frames per clip
         bs:int=256,              # batch size
         first:int=3,             # first steps timed one by one (compilation, autotuning, graph recording)
         warmup:int=3,            # untimed steps after those
         steps:int=20,            # steps per timing
         reps:int=3,              # timings; the best counts
         epoch_clips:int=9537,    # clips of a training epoch for `repay_epochs` (UCF101 split 1's training list)
         inputs:str='tensor,ImageTuple', # comma-separated: the stacked clip, and the `ImageTuple` of `TensorImage` frames a `Learner` gives
         budget_s:float=160.,     # start no new compile after this many seconds
         backend:str='inductor',  # torch.compile backend
         warm_cache:bool=False,   # keep Inductor's on-disk caches (default: off, for cold compile times)
         cpu_smoke:bool=False,    # tiny sizes on the CPU, the aot_eager backend: check that the script runs
        ):
    "Eager vs `torch.compile` (default and 'reduce-overhead') training steps of the baseline and CNN+LSTM"
    t_start = time.perf_counter()
    dev = torch.device('cuda' if torch.cuda.is_available() and not cpu_smoke else 'cpu')
    if dev.type == 'cpu' and not cpu_smoke: sys.exit('no GPU: run with --cpu-smoke for a check of the script on the CPU')
    dtype, channels_last = torch.bfloat16, dev.type == 'cuda'
    if cpu_smoke:
        arch, size, frames, bs, first, warmup, steps, reps, dtype = 'test_resnet', 32, 2, 2, 2, 1, 1, 1, None
        backend = 'aot_eager'
    if dev.type == 'cuda': torch.backends.cudnn.benchmark = True  # as `video_learner` sets it
    out = Path(out) if out else (Path(tempfile.gettempdir())/'videocls_bench_smoke' if cpu_smoke else HERE/'results'/'h200_2026-12-03')
    out.mkdir(parents=True, exist_ok=True)
    partial = out/'compile_step.jsonl.partial'
    partial.unlink(missing_ok=True)
    lines = []
    def emit(**kw):
        kw['t_s'] = round(time.perf_counter() - t_start, 1)
        lines.append(kw); s = json.dumps(kw); print(s, flush=True)
        with open(partial, 'a') as f: f.write(s + '\n')
    emit(part='env', torch=torch.__version__, python=platform.python_version(), cuda=torch.version.cuda,
         device=torch.cuda.get_device_name() if dev.type == 'cuda' else f'CPU ({os.cpu_count()} cores)', arch=arch, size=size,
         frames=frames, bs=bs, dtype='bf16' if dtype else 'fp32', channels_last=channels_last, backend=backend, warm_cache=warm_cache,
         date=time.strftime('%Y-%m-%d %H:%M'), cpu_smoke=cpu_smoke)

    g = torch.Generator(device=dev).manual_seed(0)
    x = torch.randn(bs, frames, 3, size, size, device=dev, generator=g)  # (B, T, C, H, W)
    y = torch.randint(0, N_OUT, (bs,), device=dev, generator=g)
    batches = dict(tensor=x, ImageTuple=ImageTuple(TensorImage(f) for f in x.unbind(1)))  # T x (B, C, H, W), as a Learner's batch
    names, modes, inps = models.split(','), modes.split(','), inputs.split(',')
    # eager first (cheap), then the compiled steps on stacked clips, then on ImageTuples: what matters most comes first
    jobs = [(n, 'eager', i) for n in names for i in inps] if 'eager' in modes else []
    jobs += [(n, m, i) for i in inps for n in names for m in ('default', 'reduce-overhead') if m in modes]
    eager = {}
    for name, mode, inp in jobs:
        if mode != 'eager' and time.perf_counter() - t_start > budget_s:
            emit(part='skipped', what=f'{name} {mode} {inp}', why=f'past --budget-s {budget_s:.0f}'); continue
        torch._dynamo.reset(); counters.clear()
        torch.manual_seed(0)  # the same weights for every job: the first losses of a model agree across modes and inputs
        model = create_video_model(name, N_OUT, arch=arch, seq_len=frames, image_size=size)[0].to(dev).train()
        if channels_last: model = model.to(memory_format=torch.channels_last)
        if mode != 'eager': model = torch.compile(model, backend=backend, **(dict(mode=mode) if backend == 'inductor' and mode != 'default' else {}))
        if dev.type == 'cuda': torch.cuda.reset_peak_memory_stats()
        r = dict(part='step', model=name, mode=mode, input=inp)
        try: r.update(ok=True, **measure(make_step(model, batches[inp], y, dtype), dev, bs, first, warmup, steps, reps))
        except Exception as e: r.update(ok=False, error=f'{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ""}'[:300])
        if mode != 'eager': r.update(dynamo_counters())
        if r['ok'] and mode == 'eager': eager[name, inp] = r
        elif r['ok'] and (name, inp) in eager: r.update(repay(r, eager[name, inp], bs, epoch_clips))
        if dev.type == 'cuda': r['peak_gib'] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
        emit(**r)
        del model; gc.collect()
        if dev.type == 'cuda': torch.cuda.empty_cache()
    emit(part='done', wall_s=round(time.perf_counter() - t_start, 1))
    md = table(lines)
    print('\n' + md)
    tmp = out/'.partial-compile_step.md'; tmp.write_text(md + '\n'); os.replace(tmp, out/'compile_step.md')
    os.replace(partial, out/'compile_step.jsonl')
