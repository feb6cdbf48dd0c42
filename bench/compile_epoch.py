#!/usr/bin/env python
"""Issue 21: does a compiled step (`videocls.compile.CompileModel`) bring the TimeSformer epoch to 2x, and the CNN
models' epochs within 1.25x of their plain loop? One process, one GPU, everything in the same run:

1. compute-only (`part=step`): training steps on random clips already on the GPU (bf16 autocast, cross-entropy,
   `VideoAdamW`'s AdamW, the loop of `bench/compile_step.py`): TimeSformer at bs 128, 128 px x 5 frames, as the seed's
   `MyTimeSformer` (`bench/seed_pipeline.py`), `TimeSformerModel(attention='einsum')`, `'sdpa'`, and `'sdpa'` with its
   body compiled in place as `CompileModel` does, in each of `--modes`; the baseline and CNN+LSTM (resnet34, 64 px x 5,
   bs 256, channels-last) eager and compiled (`--cnn-mode`). Clips/s (best of `--reps`), peak GiB, the first steps'
   wall time (compilation, autotuning, CUDA-graph recording), dynamo's graphs and graph breaks.
2. epochs (`part=epoch`): one fastai epoch through `video_learner` on videocls's store loader (generated UCF101-shaped
   clips, the training listing repeated to `--epoch-clips`), timed after a warm-up epoch, without and with
   `learn.add_cb(CompileModel(mode=...))`; `warm_s` is the warm-up epoch (it holds the compile), `ratio_vs_step` the
   epoch's time per clip over the same configuration's compute-only step.

Inductor's on-disk caches are left on: the compute-only part compiles cold (a fresh machine), the epochs' compiles of the
same graphs may hit those caches. No new compile starts after `--budget-s`; `max-autotune-no-cudagraphs` comes last.

    python3 bench/compile_epoch.py --out $OUT          # on the H200, about 6-7 minutes
    python3 bench/compile_epoch.py --cpu-smoke         # tiny sizes, CPU, aot_eager: checks the script end to end
"""
import gc, json, os, platform, shutil, sys, tempfile, time
from pathlib import Path

import torch
import torch._dynamo
from torch._dynamo.utils import counters
from fastcore.script import call_parse
from fastcore.parallel import parallel

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from compile_step import make_step, measure, dynamo_counters  # noqa: E402  the same loop as compile_step.py
from clip_pipeline import clip_jobs, listing, load_seed  # noqa: E402  the same generated clips as clip_pipeline.py

from videocls.models import create_video_model, TimeSformerModel  # noqa: E402
from videocls.compile import CompileModel, compile_targets  # noqa: E402
from videocls.data.store import build_store, ClipStore  # noqa: E402
from videocls.data.core import get_action_dataloaders  # noqa: E402
from videocls.learner import video_learner  # noqa: E402

T0 = time.perf_counter()
LINES = []

def emit(out, **kw):
    kw['t_s'] = round(time.perf_counter() - T0, 1)
    LINES.append(kw); s = json.dumps(kw); print(s, flush=True)
    with open(Path(out)/'compile_epoch.jsonl', 'a') as f: f.write(s + '\n')

def sync(dev):
    if dev.type == 'cuda': torch.cuda.synchronize()

def fresh(dev):
    "Forget compiled graphs (dynamo counts at most 8 variants per process) and memory between jobs"
    torch._dynamo.reset(); counters.clear(); gc.collect()
    if dev.type == 'cuda': torch.cuda.empty_cache(); torch.cuda.reset_peak_memory_stats()

def peak(dev): return round(torch.cuda.max_memory_allocated() / 2**30, 2) if dev.type == 'cuda' else None

def step_job(out, dev, label, model, inp, y, dtype, cfg, compile_opts=None, **what):
    "Compute-only rate of `model` on `inp`; with `compile_opts`, its `compile_targets` compiled in place first"
    fresh(dev)
    torch.manual_seed(0)
    model = model().to(dev).train()
    if cfg.get('channels_last'): model = model.to(memory_format=torch.channels_last)
    if compile_opts is not None:
        for _, m in compile_targets(model): m.compile(**compile_opts)
    r = dict(part='step', job=label, bs=len(y), **what)
    try: r.update(ok=True, **measure(make_step(model, inp, y, dtype), dev, len(y), cfg['first'], cfg['warmup'], cfg['steps'], cfg['reps']))
    except Exception as e: r.update(ok=False, error=f'{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ""}'[:300])
    if compile_opts is not None: r.update(dynamo_counters())
    emit(out, **r, peak_gib=peak(dev))
    return r

def epoch_job(out, dev, label, dls, name, kw, mode, cfg, **what):
    "One fastai epoch (train + valid) through `video_learner`, after a warm-up epoch; `mode` None: no `CompileModel`"
    fresh(dev)
    torch.manual_seed(0)
    learn = video_learner(dls, name, **kw)
    if mode is not False: learn.add_cb(CompileModel(mode=None if mode == 'default' else mode, **cfg['cb_kw']))
    r = dict(part='epoch', job=label, model=name, mode=mode or 'eager', bs=dls.train.bs, epoch_clips=len(dls.train) * dls.train.bs + len(dls.valid_ds), **what)
    try:
        with learn.no_bar(), learn.no_logging():
            sync(dev); t = time.perf_counter(); learn.fit(1, 1e-4); sync(dev); warm = time.perf_counter() - t
            sync(dev); t = time.perf_counter(); learn.fit(1, 1e-4); sync(dev); el = time.perf_counter() - t
        r.update(ok=True, clips_s=round(r['epoch_clips'] / el, 1), epoch_s=round(el, 2), warm_s=round(warm, 2),
                 compile_s_est=round(warm - el, 1))
    except Exception as e: r.update(ok=False, error=f'{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ""}'[:300])
    if mode is not False: r.update(dynamo_counters())
    emit(out, **r, peak_gib=peak(dev))
    del learn
    return r

def table(lines)->str:
    env = lines[0]
    out = [f"# Compiled step and epoch (issue 21), {env['device']}", '',
           f"torch {env['torch']}, Python {env['python']}; backend {env['backend']}; {'fp32, tiny sizes (--cpu-smoke): numbers meaningless' if env['cpu_smoke'] else 'bf16 autocast'}; {env['date']}; wall {lines[-1].get('wall_s', '?')} s", '',
           '## Compute-only (random clips on the device)', '',
           '| job | bs | clips/s | ms/step | peak GiB | first steps, s | graphs / breaks |', '|---|---|---|---|---|---|---|']
    for l in lines:
        if l['part'] == 'step':
            out += [f"| {l['job']} | {l['bs']} | " + (f"{l['clips_s']:,.0f} | {l['step_ms']} | {l['peak_gib']} | {', '.join(map(str, l['first_s']))} | "
                    f"{l.get('unique_graphs', '-')} / {l.get('graph_breaks', '-')} |" if l['ok'] else f"failed: {l['error']} | | | | |")]
    step = {l['job']: l for l in lines if l['part'] == 'step' and l['ok']}
    out += ['', '## Epochs through `video_learner` (train + valid, after a warm-up epoch)', '',
            '| job | bs | epoch clips | clips/s | epoch / compute-only step | warm-up epoch, s (compile in it) | graphs / breaks | peak GiB |',
            '|---|---|---|---|---|---|---|---|']
    for l in lines:
        if l['part'] != 'epoch': continue
        if not l['ok']: out += [f"| {l['job']} | {l['bs']} | failed: {l['error']} | | | | | |"]; continue
        s = step.get(l.get('step_job'))
        ratio = f"{s['clips_s'] / l['clips_s']:.2f}x of {l['step_job']}" if s else '-'
        out += [f"| {l['job']} | {l['bs']} | {l['epoch_clips']:,} | {l['clips_s']:,.0f} | {ratio} | {l['warm_s']} | "
                f"{l.get('unique_graphs', '-')} / {l.get('graph_breaks', '-')} | {l['peak_gib']} |"]
    skipped = [l for l in lines if l['part'] == 'skipped']
    if skipped: out += ['', 'Skipped (past --budget-s, or not inductor): ' + '; '.join(l['what'] for l in skipped)]
    return '\n'.join(out)

@call_parse
def main(out:str=None,              # folder for compile_epoch.jsonl and .md (default: a temporary folder)
         modes:str='default,reduce-overhead,max-autotune-no-cudagraphs', # TimeSformer compile modes (compute-only; epochs: the first two)
         cnn_mode:str='reduce-overhead', # the CNN models' compile mode (compile_step.md: default mode was slower than eager)
         n_videos:int=480,          # generated clips for the store
         epoch_clips:int=9216,      # training clips per epoch (the listing repeated), about UCF101's 9,537
         workers:int=None,          # loader workers and store-building processes (default: CPUs, at most 16)
         first:int=3, warmup:int=3, steps:int=20, reps:int=3, # compute-only timing (see compile_step.py)
         budget_s:float=330.,       # start no compile job after this many seconds
         cpu_smoke:bool=False,      # tiny sizes on the CPU, the aot_eager backend: check the script end to end
        ):
    "Seed, einsum, SDPA and compiled SDPA TimeSformer; CNN models eager and compiled: compute-only and fastai epochs"
    dev = torch.device('cuda' if torch.cuda.is_available() and not cpu_smoke else 'cpu')
    if dev.type == 'cpu' and not cpu_smoke: sys.exit('no GPU: run with --cpu-smoke for a check of the script on the CPU')
    out = Path(out or Path(tempfile.gettempdir())/'videocls_compile_epoch'); out.mkdir(parents=True, exist_ok=True)
    (out/'compile_epoch.jsonl').unlink(missing_ok=True)
    workers = workers or min(os.cpu_count() or 1, 16)
    tsf = dict(size=128, frames=5, bs=128, kw={})
    cnn = dict(size=64, frames=5, bs=256, arch='torchvision.resnet34')
    dtype, backend = torch.bfloat16, 'inductor'
    cfg = dict(first=first, warmup=warmup, steps=steps, reps=reps, cb_kw={})
    if cpu_smoke:
        tsf = dict(size=32, frames=2, bs=4, kw=dict(patch_size=16, dim=32, depth=1, heads=2, dim_head=16))
        cnn = dict(size=32, frames=2, bs=4, arch='test_resnet')
        dtype, backend, n_videos, epoch_clips, workers = None, 'aot_eager', 50, 32, 2
        cfg.update(first=1, warmup=0, steps=1, reps=1, cb_kw=dict(backend='aot_eager', cpu=True))
    if dev.type == 'cuda': torch.backends.cudnn.benchmark = True
    emit(out, part='env', torch=torch.__version__, python=platform.python_version(), cuda=torch.version.cuda,
         device=torch.cuda.get_device_name() if dev.type == 'cuda' else f'CPU ({os.cpu_count()} cores)', backend=backend,
         date=time.strftime('%Y-%m-%d %H:%M'), cpu_smoke=cpu_smoke, tsf=str(tsf), cnn=str(cnn))
    compile_opts = lambda mode: dict(backend=backend, dynamic=False, **({} if mode == 'default' or backend != 'inductor' else dict(mode=mode)))
    over = lambda: time.perf_counter() - T0 > budget_s
    modes = modes.split(',')
    sp = load_seed(HERE/'seed_pipeline.py')
    n_out = 20

    # 1. compute-only
    g = torch.Generator(device=dev).manual_seed(0)
    def batch(c):
        x = torch.randn(c['bs'], c['frames'], 3, c['size'], c['size'], device=dev, generator=g)  # (B, T, C, H, W)
        return x, torch.randint(0, n_out, (c['bs'],), device=dev, generator=g)
    x, y = batch(tsf)
    tsf_model = lambda attention: (lambda: TimeSformerModel(n_out, image_size=tsf['size'], num_frames=tsf['frames'], attention=attention, **tsf['kw']))
    step_job(out, dev, 'timesformer seed MyTimeSformer', lambda: sp.tsf(n_out, tsf['size'], tsf['frames']), tuple(x.unbind(1)), y, dtype, cfg)
    step_job(out, dev, 'timesformer einsum', tsf_model('einsum'), x, y, dtype, cfg)
    step_job(out, dev, 'timesformer sdpa', tsf_model('sdpa'), x, y, dtype, cfg)
    for mode in [m for m in modes if m != 'max-autotune-no-cudagraphs']:
        step_job(out, dev, f'timesformer sdpa + compile {mode}', tsf_model('sdpa'), x, y, dtype, cfg, compile_opts(mode))
    x, y = batch(cnn)
    cnn_cfg = dict(cfg, channels_last=dev.type == 'cuda')
    for name in ('simple', 'rnn'):
        m = lambda name=name: create_video_model(name, n_out, arch=cnn['arch'], seq_len=cnn['frames'], image_size=cnn['size'])[0]
        step_job(out, dev, f'{name} eager', m, x, y, dtype, cnn_cfg)
        if over(): emit(out, part='skipped', what=f'{name} compile step'); continue
        step_job(out, dev, f'{name} + compile {cnn_mode}', m, x, y, dtype, cnn_cfg, compile_opts(cnn_mode))
    del x, y

    # 2. epochs through video_learner on the store loader
    work = Path(tempfile.mkdtemp(prefix='compile-epoch-'))
    try:
        jobs = clip_jobs(work/'UCF101', n_videos, n_out, 150 if not cpu_smoke else 12, *((320, 240) if not cpu_smoke else (128, 96)))
        parallel(sp._mk, jobs, n_workers=workers, progress=False)
        rep = build_store(work/'UCF101', work/'store', n_workers=workers, progress=False)
        store = ClipStore(work/'store')
        l1, v1 = listing(store.clips, 1)
        n_trn = len(l1) - len(v1)
        clips, val = listing(store.clips, max(1, round(epoch_clips / max(n_trn, 1))))
        emit(out, part='data', n_videos=n_videos, store_failed=len(rep.failed), train_clips=len(clips) - len(val), valid_clips=len(val))
        dls = lambda c: get_action_dataloaders(clips, bs=c['bs'], image_size=c['size'], seq_len=c['frames'], val_idxs=val,
                                               num_workers=workers, device=dev)
        d = dls(tsf)
        epoch_job(out, dev, 'timesformer sdpa', d, 'timesformer', tsf['kw'], False, cfg, step_job='timesformer sdpa')
        for mode in [m for m in modes if m != 'max-autotune-no-cudagraphs']:
            if over(): emit(out, part='skipped', what=f'timesformer epoch {mode}'); continue
            epoch_job(out, dev, f'timesformer sdpa + CompileModel {mode}', d, 'timesformer', tsf['kw'], mode, cfg,
                      step_job=f'timesformer sdpa + compile {mode}')
        del d
        d = dls(cnn)
        for name in ('simple', 'rnn'):
            epoch_job(out, dev, f'{name} eager', d, name, dict(arch=cnn['arch']), False, cfg, step_job=f'{name} eager')
            if over(): emit(out, part='skipped', what=f'{name} epoch compiled'); continue
            epoch_job(out, dev, f'{name} + CompileModel {cnn_mode}', d, name, dict(arch=cnn['arch']), cnn_mode, cfg,
                      step_job=f'{name} + compile {cnn_mode}')
        del d
    finally: shutil.rmtree(work, ignore_errors=True)

    # 3. the expensive autotuning mode, if time is left
    if 'max-autotune-no-cudagraphs' in modes:
        if over() or backend != 'inductor': emit(out, part='skipped', what='timesformer sdpa + compile max-autotune-no-cudagraphs')
        else:
            x, y = batch(tsf)
            step_job(out, dev, 'timesformer sdpa + compile max-autotune-no-cudagraphs', tsf_model('sdpa'), x, y, dtype, cfg,
                     compile_opts('max-autotune-no-cudagraphs'))
    emit(out, part='done', wall_s=round(time.perf_counter() - T0, 1))
    md = table(LINES)
    print('\n' + md)
    (out/'compile_epoch.md').write_text(md + '\n')
