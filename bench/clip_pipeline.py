#!/usr/bin/env python
"""The seed tutorial's pipeline and videocls's, side by side in one process on the same generated clips.

    python bench/clip_pipeline.py --out bench/results/h200        # on the GPU machine (about 7 minutes)
    python bench/clip_pipeline.py --cpu-smoke                      # tiny, on a CPU: checks the script runs

The seed is `bench/seed_pipeline.py` (or `--seed-pipeline PATH`): its clip generator, frame dump
(`avi2frames`: a folder of full-size JPEGs per clip), loader (PIL per frame, `Resize` per item) and models. Both sides
run on the same clips (UCF101-shaped: 320x240 MPEG-4, `--n-frames` frames, 25 groups, `--n-classes` classes); groups
21-25 are the validation set. Parts (`--parts`):

- prep: clips/s of the seed's `avi2frames`, of PyAV decoding alone (every frame to full-size RGB, as the seed's
  `extract_frames` does: the ceiling of any build that decodes on the CPU), of videocls's `videos2frames` and of its
  `build_store`, all with `--workers` processes; and GB per 1000 clips of what each writes.
- loader: clips/s the training loader delivers to the device, after a few warm-up batches, at (64 px, 5 frames) and
  (112 px, 16 frames), bs `--bs`; the seed's loader reads its frame dump, videocls's the store.
- epoch: one fastai epoch (train + valid, timed after a warm-up epoch) of SimpleModel(resnet34), RNNModel(resnet34)
  and TimeSformer, videocls's with `video_learner`'s defaults at bs `--bs` (the tutorial's) and at the batch size
  `pick_bs` chooses (or `--vc-bs`), the seed's with its own code (`to_fp16`, fastai Adam) at the same two batch sizes,
  so that each videocls epoch has a seed epoch at its own batch size beside it; and each model's compute-only rate
  (its training step on clips already on the device, `train_step_rate`; for the seed, its own loop; the best of three
  timings) at the same batch size. `simple112` is the baseline at 112 px x 16 frames (videocls only). The training set
  is listed `--repeat` times so that an epoch is as long as UCF101's (split 1: 9,537 training clips; 384 x 24 = 9,216
  here), and a fixed cost per epoch weighs as it would there; each listing reads and decodes the clip again. The
  seed's epochs at videocls's batch size are as long; at bs 32 its listing is `--seed-repeat` times the training set
  (its rate per clip there does not depend on the epoch's length, and its epochs would take minutes).

Every measurement is printed as a JSON line as it is made (and appended to OUT/clip_pipeline.jsonl); a table with the
ratios comes last (also OUT/clip_pipeline.md).
"""
import gc, importlib.util, json, os, shutil, subprocess, sys, tempfile, time, warnings
from pathlib import Path
warnings.filterwarnings('ignore')

import av, torch
from fastcore.script import call_parse
from fastcore.parallel import parallel
from fastcore.foundation import L
from fastai.learner import Learner
from fastai.metrics import accuracy
from fastai.losses import CrossEntropyLossFlat
import fastai.callback.fp16  # noqa: F401  Learner.to_fp16

from videocls.data.frames import videos2frames
from videocls.data.store import build_store, ClipStore
from videocls.data.ucf101 import ucf101_group
from videocls.data.core import get_action_dataloaders
from videocls.models import create_video_model
from videocls.learner import video_learner
from videocls.speed import train_step_rate, pick_bs

ROOT = Path(__file__).resolve().parents[1]
RESULTS, T0 = [], time.time()

def emit(out, **kw):
    kw['t'] = round(time.time() - T0, 1)
    RESULTS.append(kw)
    line = json.dumps(kw)
    print(line, flush=True)
    if out: open(Path(out)/'clip_pipeline.jsonl', 'a').write(line + '\n')

def load_seed(path):
    spec = importlib.util.spec_from_file_location('seed_pipeline', path)
    mod = sys.modules['seed_pipeline'] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod

def clip_jobs(folder, n_videos:int, n_classes:int, n_frames:int=150, w:int=320, h:int=240)->list:
    "The seed generator's jobs `(video, n_frames, w, h, seed)`: `n_videos` UCF101-named clips of `n_classes` classes in 25 groups"
    return [(Path(folder)/f'C{i % n_classes:03d}'/f'v_C{i % n_classes:03d}_g{i // n_classes % 25 + 1:02d}_c{i:05d}.avi', n_frames, w, h, i)
            for i in range(n_videos)]

def listing(items, repeat:int, last_train_group:int=20)->tuple:
    "Items of groups up to `last_train_group` `repeat` times, then the others (validation) once; and the validation indices"
    is_valid = lambda f: ucf101_group(f) > last_train_group
    trn, val = [f for f in items if not is_valid(f)], [f for f in items if is_valid(f)]
    return L(trn * repeat + val), list(range(len(trn) * repeat, len(trn) * repeat + len(val)))

def tree_bytes(path)->int: return sum(f.stat().st_size for f in Path(path).rglob('*') if f.is_file())

FRESH_BUILD = """import sys, time
from videocls.data.store import build_store
t = time.perf_counter(); build_store(sys.argv[1], sys.argv[2], n_workers=int(sys.argv[3]), progress=False)
print('SECONDS', time.perf_counter() - t)"""

def decode_rgb(video):
    "PyAV decoding alone: every frame to a full-size RGB array, with PyAV's defaults (as the seed's extract_frames)"
    with av.open(str(video)) as c:
        for f in c.decode(0): f.to_ndarray(format='rgb24')

def sync(dev):
    if dev == 'cuda': torch.cuda.synchronize()

def timed(f, dev):
    sync(dev); t = time.perf_counter(); r = f(); sync(dev)
    return time.perf_counter() - t, r

def loader_rate(dl, dev, n_batches=30, warm=5)->float:
    "Clips/s delivered by `dl` (after its batch transforms, on the device), after `warm` batches"
    n_batches = min(n_batches, len(dl) - warm)
    it = iter(dl)
    for _ in range(warm): next(it)
    sync(dev); t, n = time.perf_counter(), 0
    for _ in range(n_batches): n += len(next(it)[1])
    sync(dev)
    return n / (time.perf_counter() - t)

def epoch_rate(learn, dev, lr=1e-3)->float:
    "Clips/s of one `fit` epoch, train and valid, timed after a warm-up epoch"
    with learn.no_bar(), learn.no_logging():
        learn.fit(1, lr)
        el, _ = timed(lambda: learn.fit(1, lr), dev)
    n = len(learn.dls.train) * learn.dls.train.bs + len(learn.dls.valid_ds)
    return n / el

def seed_compute_rate(model, xb, yb, dev, steps=20)->float:
    "The seed's own compute-only loop (seed_pipeline.py): fp16 autocast, Adam, GradScaler, one batch on the device"
    model.train()
    opt, lf = torch.optim.Adam(model.parameters(), 1e-3), CrossEntropyLossFlat()
    scaler = torch.amp.GradScaler(enabled=dev == 'cuda')
    def step():
        with torch.autocast(dev, dtype=torch.float16, enabled=dev == 'cuda'): loss = lf(model(xb), yb)
        scaler.scale(loss).backward(); scaler.step(opt); scaler.update(); opt.zero_grad()
    for _ in range(3): step()
    el, _ = timed(lambda: [step() for _ in range(steps)], dev)
    return steps * len(yb) / el

def best_of(rate, n:int=3)->float:
    "The highest of `n` measurements of `rate()`: a compute-only rate is a ceiling, and one short timing on a shared machine can land low"
    return max(rate() for _ in range(n))

def fmt_table(rows)->str:
    w = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    line = lambda r: '| ' + ' | '.join(str(v).ljust(n) for v, n in zip(r, w)) + ' |'
    return '\n'.join([line(rows[0]), '|' + '|'.join('-' * (n + 2) for n in w) + '|'] + [line(r) for r in rows[1:]])

def table()->str:
    get = lambda **kw: next((r for r in RESULTS if all(r.get(k) == v for k, v in kw.items())), None)
    val = lambda r, k='clips_per_s': '-' if r is None else f"{r[k]:,.0f}"
    rows = [('step', 'seed', 'videocls', 'videocls / seed', 'reference')]
    p = {k: get(step='prep', what=k) for k in ('seed avi2frames', 'decode alone', 'videos2frames', 'build_store', 'build_store (in a fresh process)')}
    if p['seed avi2frames']:
        s = p['seed avi2frames']['clips_per_s']
        for k in ('videos2frames', 'build_store', 'build_store (in a fresh process)'):
            if p[k]: rows.append((f'prep: {k}, clips/s', val(p['seed avi2frames']), val(p[k]), f"{p[k]['clips_per_s'] / s:.2f}x",
                                  f"decode alone {val(p['decode alone'])} ({p[k]['clips_per_s'] / p['decode alone']['clips_per_s']:.2f}x of it)" if p['decode alone'] else ''))
            if p[k] and p[k].get('gb_per_1000'): rows.append((f'prep: {k}, GB per 1000 clips', f"{p['seed avi2frames']['gb_per_1000']:.2f}", f"{p[k]['gb_per_1000']:.2f}", '', ''))
    for size, t in ((64, 5), (112, 16)):
        s, v = get(step='loader', side='seed', size=size, seq_len=t), get(step='loader', side='videocls', size=size, seq_len=t)
        if s and v: rows.append((f'loader {size} px x {t}, clips/s', val(s), val(v), f"{v['clips_per_s'] / s['clips_per_s']:.2f}x", f"bs {v['bs']}"))
    out = fmt_table(rows) + '\n\n'
    rows = [('epoch, clips/s', 'videocls', 'seed, same bs', 'videocls / seed, same bs', 'seed, bs 32', 'videocls / seed bs 32',
             'compute-only', 'epoch / compute-only time')]
    for m in ('simple', 'rnn', 'timesformer', 'simple112'):
        s32 = get(step='epoch', side='seed', model=m, bs=32)
        for r in [r for r in RESULTS if r.get('step') == 'epoch' and r.get('side') == 'videocls' and r.get('model') == m]:
            same = get(step='epoch', side='seed', model=m, bs=r['bs'])
            ratio = lambda s: f"{r['clips_per_s'] / s['clips_per_s']:.2f}x" if s else '-'
            rows.append((f"{m}, bs {r['bs']} {r['precision']}", val(r), val(same), ratio(same), val(s32), ratio(s32),
                         val(r, 'compute_per_s'), f"{r['compute_per_s'] / r['clips_per_s']:.2f}x"))
    return out + fmt_table(rows)

@call_parse
def main(seed_pipeline:str=None,     # the seed's pipeline (default: bench/seed_pipeline.py beside the repo)
         n_videos:int=480,           # generated clips
         n_classes:int=20,           # classes
         n_frames:int=150,           # frames per clip
         video_size:str='320x240',   # generated video size, WxH
         workers:int=None,           # processes for generation and preparation, and loader workers (default: CPUs)
         bs:int=32,                  # the tutorial's batch size, for both sides
         repeat:int=24,              # videocls's training set is listed this many times (see above)
         seed_repeat:int=4,          # the seed's training set is listed this many times
         parts:str='prep,loader,epoch',  # what to run
         models:str='simple,rnn,timesformer,simple112',  # epoch part: models
         bss:str='32,64,128,256',    # batch sizes `pick_bs` tries for videocls's default
         vc_bs:str=None,             # videocls's default batch sizes, e.g. 'simple=256,rnn=256' (skips `pick_bs` for those)
         root:str=None,              # working folder (default: a temporary one, removed)
         out:str=None,               # folder for clip_pipeline.jsonl and clip_pipeline.md
         cpu_smoke:bool=False,       # tiny sizes on the CPU: check that the script runs (no timing worth reading)
        ):
    "Seed vs videocls: preparation, loader and epoch rates on the same clips, printed with ratios"
    parts = parts.split(',')
    dev = 'cuda' if torch.cuda.is_available() and not cpu_smoke else 'cpu'
    workers = workers or min(os.cpu_count() or 1, 16)
    sizes = {'simple': (64, 5), 'rnn': (64, 5), 'timesformer': (128, 5), 'simple112': (112, 16)}
    arch = 'torchvision.resnet34'
    if cpu_smoke:
        n_videos, n_classes, n_frames, video_size, bs, repeat, seed_repeat, bss = 50, 2, 12, '128x96', 4, 2, 2, '4,8'
        sizes = {'simple': (32, 2), 'rnn': (32, 2), 'timesformer': (32, 2), 'simple112': (32, 4)}
    if out: Path(out).mkdir(parents=True, exist_ok=True)
    w, h = (int(v) for v in video_size.split('x'))
    sp = load_seed(seed_pipeline or ROOT/'bench/seed_pipeline.py')
    work = Path(root or tempfile.mkdtemp(prefix='clipbench-'))
    vids, seed_frames = work/'UCF101', work/'seed-frames'
    emit(out, step='setup', torch=torch.__version__, av=av.__version__, cpus=os.cpu_count(), workers=workers, n_videos=n_videos,
         n_frames=n_frames, video_size=video_size)  # no CUDA yet: the preparation's worker processes fork from this one
    try:
        jobs = clip_jobs(vids, n_videos, n_classes, n_frames, w, h)
        videos = [j[0] for j in jobs]
        if not all(v.exists() for v in videos):
            el, _ = timed(lambda: parallel(sp._mk, jobs, n_workers=workers, progress=False), 'cpu')
            emit(out, step='gen', s=el, clips_per_s=n_videos / el)
        if 'prep' in parts or not (work/'store').exists():
            for name, f, dest in [('seed avi2frames', lambda: parallel(sp.avi2frames, videos, path_frames=seed_frames, n_workers=workers, progress=False), seed_frames),
                                  ('decode alone', lambda: parallel(decode_rgb, videos, n_workers=workers, progress=False), None),
                                  ('videos2frames', lambda: videos2frames(vids, work/'vc-frames', n_workers=workers, progress=False), work/'vc-frames'),
                                  ('build_store', lambda: build_store(vids, work/'store', n_workers=workers, progress=False), work/'store')]:
                if dest is not None: shutil.rmtree(dest, ignore_errors=True)
                el, rep = timed(f, 'cpu')
                if name in ('videos2frames', 'build_store') and rep.failed: raise RuntimeError(f'{name}: {len(rep.failed)} clips failed: {list(rep.failed.items())[:3]}')
                emit(out, step='prep', what=name, s=el, clips_per_s=n_videos / el,
                     gb_per_1000=None if dest is None else tree_bytes(dest) / 1e9 * 1000 / n_videos)
            r = subprocess.run([sys.executable, '-c', FRESH_BUILD, str(vids), str(work/'store-fresh'), str(workers)], capture_output=True, text=True)
            el = float(r.stdout.split('SECONDS')[-1]) if 'SECONDS' in r.stdout else float('nan')
            emit(out, step='prep', what='build_store (in a fresh process)', s=el, clips_per_s=n_videos / el)
            shutil.rmtree(work/'store-fresh', ignore_errors=True)
        if dev == 'cuda': emit(out, step='device', device=torch.cuda.get_device_name())
        store = ClipStore(work/'store')
        seed_files = L(sorted(p for c in seed_frames.ls() for p in c.ls()))
        seed_items, seed_val = listing(seed_files, seed_repeat)
        seed_items_long, seed_val_long = listing(seed_files, repeat)
        clips, clip_val = listing(store.clips, repeat)
        vc_dls = lambda b, size, t: get_action_dataloaders(clips, bs=b, image_size=size, seq_len=t, val_idxs=clip_val,
                                                           num_workers=workers, device=dev)
        seed_dls = lambda size, t, b=bs, items=seed_items, val=seed_val: sp.get_action_dataloaders(
            items, bs=b, image_size=size, seq_len=t, val_idxs=val, num_workers=workers, device=dev)
        if 'loader' in parts:
            for size, t in ((64, 5), (112, 16)) if not cpu_smoke else ((32, 2),):
                emit(out, step='loader', side='seed', size=size, seq_len=t, bs=bs, clips_per_s=loader_rate(seed_dls(size, t).train, dev))
                emit(out, step='loader', side='videocls', size=size, seq_len=t, bs=bs, clips_per_s=loader_rate(vc_dls(bs, size, t).train, dev))
        if 'epoch' in parts:
            fixed = dict(o.split('=') for o in vc_bs.split(',')) if vc_bs else {}
            for m in models.split(','):
                size, t = sizes[m]
                name = 'simple' if m == 'simple112' else m
                kw = {} if name == 'timesformer' else dict(arch=arch if not cpu_smoke else 'test_resnet')
                if m in fixed: best = int(fixed[m])
                else:
                    proto, _ = create_video_model(name, n_classes, seq_len=t, image_size=size, **kw)
                    best, rates = pick_bs(proto.to(dev), t, size, bss=[int(b) for b in bss.split(',')])
                    emit(out, step='pick_bs', model=m, size=size, seq_len=t, chosen=best, rates=rates)
                    del proto
                for b in sorted({bs, best}):
                    if m != 'simple112':  # the seed at this batch size: at the tutorial's bs its short listing, else as long as videocls's
                        items, val = (seed_items, seed_val) if b == bs else (seed_items_long, seed_val_long)
                        dls = seed_dls(size, t, b, items, val)
                        model = {'simple': lambda: sp.SimpleModel(n_out=dls.c), 'rnn': lambda: sp.RNNModel(n_out=dls.c),
                                 'timesformer': lambda: sp.tsf(dls.c, size, t)}[m]()
                        learn = Learner(dls, model, metrics=[accuracy])
                        if dev == 'cuda': learn = learn.to_fp16()
                        rate = epoch_rate(learn, dev)
                        xb, yb = dls.one_batch()
                        emit(out, step='epoch', side='seed', model=m, bs=b, precision='fp16' if dev == 'cuda' else 'fp32',
                             epoch_clips=len(items), clips_per_s=rate, compute_per_s=best_of(lambda: seed_compute_rate(learn.model, xb, yb, dev)))
                        del learn, model, dls, xb, yb
                        gc.collect()
                    learn = video_learner(vc_dls(b, size, t), name, **kw)
                    rate = epoch_rate(learn, dev)
                    emit(out, step='epoch', side='videocls', model=m, bs=b, precision=learn.precision, epoch_clips=len(clips), clips_per_s=rate,
                         compute_per_s=best_of(lambda: train_step_rate(learn.model, b, t, size, n_steps=20)))
                    del learn
                    gc.collect()
                    if dev == 'cuda': torch.cuda.empty_cache()
    finally:
        if root is None: shutil.rmtree(work, ignore_errors=True)
    t = table()
    print('\n' + t)
    if out: (Path(out)/'clip_pipeline.md').write_text(t + '\n')
