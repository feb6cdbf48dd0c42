"""Where an epoch's time goes in the main process: waiting for the loader's next batch, or in the training step.

    PARTS=ceiling,ab python bench/epoch_split.py      # on the GPU machine; JSON lines to $OUT/epoch_split.jsonl

The resnet34 baseline through `video_learner` on a clip store of `NV` generated clips (the seed's generator, `SEED`,
default bench/seed_pipeline.py), for each of `CONFIGS` (`size,seq_len,bs,repeat;...`: frame size, frames,
batch size, and how many times the training set is listed). A callback splits every batch's time into `load_ms` (from
the end of one batch to the start of the next: the loader's work in the main process and any wait for it) and
`step_ms` (forward, backward, optimiser, fastai's callbacks, which wait for the GPU when the loss goes to the CPU).
Parts (`PARTS`):

- ceiling: the model's compute-only rate (`train_step_rate`), then the same `Learner` fed with four real batches that
  already sit on the GPU (cycled), and the fraction of that epoch's time the GPU spends running kernels (torch's
  profiler): what fastai's loop costs without any loader;
- ab: epochs with each of `VARIANTS`, in turns (three rounds of one untimed and two timed epochs), each through the
  loader's public arguments: `inline` is `ClipDataLoader` as it is; `resv2`/`resv4` keep the workers off the first
  2/4 CPUs and `idle` runs them as SCHED_IDLE (`worker_init`); `nw12` uses 12 workers instead of 16;
  `chunk16`/`chunk64`/`chunk128` set the workers' chunks of clips (`chunk_size`; `inline`: the loader's default).
  The `thread` variant of `parts_thread.jsonl` (batches made ahead in a thread, FFCV's design; not kept) subclassed
  the loader's internals and was removed with the renovation of issue 20: it is in this script at commit 7e10351.

Diagnosis, not the bench: `bench/clip_pipeline.py` is the side-by-side table with the seed.
"""
import gc, json, os, platform, sys, time, warnings
from functools import partial
from pathlib import Path
warnings.filterwarnings('ignore')
import torch
from fastcore.parallel import parallel
from fastai.data.core import DataLoaders
from fastai.callback.core import Callback
sys.path.insert(0, str(Path(__file__).resolve().parent))
from clip_pipeline import ROOT, load_seed, clip_jobs, listing
from videocls.data.store import build_store, ClipStore
from videocls.data.core import get_action_dataloaders
from videocls.learner import video_learner
from videocls.speed import train_step_rate

OUT = Path(os.environ.get('OUT', '/tmp/out')); OUT.mkdir(parents=True, exist_ok=True)
def emit(**kw):
    line = json.dumps(kw); print(line, flush=True)
    with open(OUT/'epoch_split.jsonl', 'a') as f: f.write(line + '\n')
dev = 'cuda' if torch.cuda.is_available() else 'cpu'
def sync():
    if dev == 'cuda': torch.cuda.synchronize()

class Split(Callback):
    "Main-process time per batch: waiting for the batch (`load`) and in the training step (`step`)"
    order = 99
    def before_fit(self): self.load, self.step, self.nb = 0., 0., 0
    def before_epoch(self): self.last = time.perf_counter()
    def before_validate(self): self.last = time.perf_counter()
    def before_batch(self): self.t0 = time.perf_counter(); self.load += self.t0 - self.last
    def after_batch(self): self.last = time.perf_counter(); self.step += self.last - self.t0; self.nb += 1

class Cached:
    "`n` batches cycled from `batches`, already on the device"
    n_inp = 1
    def __init__(self, batches, n): self.batches, self.n = batches, n
    def __len__(self): return self.n
    def __iter__(self): return (self.batches[i % len(self.batches)] for i in range(self.n))

def placed(worker_id, reserve=0, idle=False):
    "A worker's placement (the loader's `worker_init`): off the first `reserve` CPUs, or at SCHED_IDLE"
    if reserve: os.sched_setaffinity(0, set(range(reserve, os.cpu_count())))
    if idle: os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))

VARIANTS = {'inline': {}, 'resv2': dict(reserve=2), 'resv4': dict(reserve=4), 'idle': dict(idle=True), 'nw12': dict(nw=12),
            'nw12resv4': dict(nw=12, reserve=4), 'chunk16': dict(chunk=16), 'chunk64': dict(chunk=64), 'chunk128': dict(chunk=128)}

def variant_dls(c, v, size, t, bs, reserve=0, idle=False, nw=None, chunk=None):
    "The loaders of one variant, through the public API: workers placed as asked, `nw` of them, chunks of `chunk` clips"
    init = partial(placed, reserve=reserve, idle=idle) if reserve or idle else None
    return get_action_dataloaders(c, bs=bs, image_size=size, seq_len=t, val_idxs=v, mode='uniform', num_workers=nw or W,
                                  device=dev, chunk_size=chunk, worker_init=init)

def epoch(learn, split, n, **kw):
    sync(); t, ct = time.perf_counter(), time.thread_time()
    learn.fit(1, 1e-3); sync()
    el = time.perf_counter() - t
    emit(**kw, clips_per_s=n / el, ms_per_batch=el / split.nb * 1000, load_ms=split.load / split.nb * 1000,
         step_ms=split.step / split.nb * 1000, main_cpu_frac=(time.thread_time() - ct) / el)

def gpu_busy(learn):
    "Fraction of an epoch's time the GPU runs kernels"
    from torch.profiler import profile, ProfilerActivity
    sync()
    with profile(activities=[ProfilerActivity.CUDA]) as p:
        t = time.perf_counter(); learn.fit(1, 1e-3); sync(); el = time.perf_counter() - t
    return sum(e.self_device_time_total for e in p.key_averages()) / 1e6 / el

sp = load_seed(os.environ.get('SEED', ROOT/'bench/seed_pipeline.py'))
NV, NC, W = int(os.environ.get('NV', 480)), 20, int(os.environ.get('W', min(os.cpu_count(), 16)))
small = dev == 'cpu'
work = Path(os.environ.get('WORK', '/tmp/epoch_split')); vids = work/'UCF101'
n_frames, size = (12, (128, 96)) if small else (150, (320, 240))
if not (work/'store'/'manifest.json').exists():
    parallel(sp._mk, clip_jobs(vids, NV, NC, n_frames, *size), n_workers=W, progress=False)
    build_store(vids, work/'store', n_workers=W, progress=False)
store = ClipStore(work/'store')

PARTS = os.environ.get('PARTS', 'ceiling,ab').split(',')
CONFIGS = [tuple(int(v) for v in c.split(',')) for c in os.environ.get('CONFIGS', '64,5,256,24;64,5,32,6;112,16,64,6').split(';')]
if small: CONFIGS = [(32, 4, 8, 2)]
names = os.environ.get('VARIANTS', 'inline,chunk16').split(',')
emit(what='env', device=torch.cuda.get_device_name() if dev == 'cuda' else 'cpu', cpus=os.cpu_count(), workers=W, torch=torch.__version__, kernel=platform.release())
for size, t, bs, rep in CONFIGS:
    c, v = listing(store.clips, rep, min(20, NV // NC - 1))  # validation: groups 21-25, or the last of fewer clips
    dls = get_action_dataloaders(c, bs=bs, image_size=size, seq_len=t, val_idxs=v, mode='uniform', num_workers=W, device=dev)
    learn = video_learner(dls, 'simple', arch='torchvision.resnet34' if not small else 'test_resnet')
    split = Split(); learn.add_cb(split)
    n, cfg = len(dls.train) * bs + len(dls.valid_ds), dict(size=size, t=t, bs=bs)
    with learn.no_bar(), learn.no_logging():
        learn.fit(1, 1e-3)  # the model on the device, cuDNN tuned
        compute = train_step_rate(learn.model, bs, t, size)
        emit(**cfg, what='compute', clips_per_s=compute, ms_per_batch=bs / compute * 1000)
        if 'ceiling' in PARTS:
            learn.dls = DataLoaders(Cached([b for b, _ in zip(dls.train, range(4))], len(dls.train)), Cached([dls.valid.one_batch()], len(dls.valid)))
            learn.fit(1, 1e-3)
            for k in range(2): epoch(learn, split, n, **cfg, what='ceiling', k=k)
            if dev == 'cuda': emit(**cfg, what='ceiling', gpu_busy_frac=gpu_busy(learn))
            learn.dls = dls
        if 'ab' in PARTS:
            for rnd in range(3):
                for name in names:
                    learn.dls = variant_dls(c, v, size, t, bs, **VARIANTS[name])
                    learn.fit(1, 1e-3)
                    for k in range(2): epoch(learn, split, n, **cfg, what=name, rnd=rnd, k=k)
            if dev == 'cuda': emit(**cfg, what=names[-1], gpu_busy_frac=gpu_busy(learn))
        compute = train_step_rate(learn.model, bs, t, size)
        emit(**cfg, what='compute again', clips_per_s=compute, ms_per_batch=bs / compute * 1000)
    del learn, dls; gc.collect()
    if dev == 'cuda': torch.cuda.empty_cache()
