#!/usr/bin/env python
"""What the clip files' checksums cost: the loader's clips/s with and without checking them, through the real loader.

    python bench/clip_checksum.py --out bench/results/h200_DATE                  # the GPU machine (defaults: its sizes)
    python bench/clip_checksum.py --n-videos 64 --workers 2 --bs 32 --repeat 30 --windows 6 --n-batches 8 --out bench/results/cpu2_DATE  # 2-core CPU

The clips are `bench/clip_pipeline.py`'s (the seed's generator: UCF101-shaped 320x240 MPEG-4 with noise, `--n-frames`
frames), stored by `build_store` (min_size 112: 160x120 JPEG frames, as UCF101's). Every clip file carries a CRC-32 per
frame; `ClipStore(path, check=False)` reads the same files without checking them. Measured side by side, in alternating
windows so that the other load of a shared machine hits both sides alike:

- loader: clips/s that `get_action_dataloaders`'s training loader delivers to the device (after `ClipBatchTfm`), at
  64 px x 5 frames and 112 px x 16 frames, bs `--bs`, `--workers` worker processes: a checked and an unchecked loader
  are made, `--warm` batches drawn from each, then `--windows` windows of `--n-batches` batches, alternating between
  them (epoch after epoch: the training list is the store's clips `--repeat` times); the ratio is the median of the
  ratios of neighbouring windows;
  and the CPU time the workers spent per clip in each window (`/proc/PID/schedstat`: what the check costs them, whatever
  else the machine runs);
- read: CPU microseconds per clip of `StoredClip.read` alone, in this process (5 and 16 frames a clip, 'uniform'), over
  the whole store, `--windows` times each, alternating;
- crc32: GB/s of `zlib.crc32` over the store's frames; verify: seconds of `ClipStore.verify()` (every byte of the
  store, files in the page cache), and of the build run again over the complete store (it checks every stored clip),
  beside what the build read of each clip before the checksums (its header only).

Every measurement is printed as a JSON line (and appended to OUT/clip_checksum.jsonl); a table comes last (OUT/clip_checksum.md).
"""
import json, os, statistics, sys, tempfile, time, warnings, zlib
from pathlib import Path
warnings.filterwarnings('ignore')
sys.path.insert(0, str(Path(__file__).parent))

import torch
from fastcore.script import call_parse
from fastcore.parallel import parallel
from fastcore.foundation import L

import clip_pipeline as cp  # its clips, its loader timing
from videocls.data.store import build_store, ClipStore, read_clip_header
from videocls.data.core import get_action_dataloaders
from videocls.data.clip import sample_frames

RESULTS, T0 = [], time.time()

def emit(out, **kw):
    kw['t'] = round(time.time() - T0, 1)
    RESULTS.append(kw)
    line = json.dumps(kw)
    print(line, flush=True)
    if out: open(Path(out)/'clip_checksum.jsonl', 'a').write(line + '\n')

def read_cpu(clips, idxs:list, passes:int=3)->float:
    "CPU microseconds (this process's: immune to other processes' load) per clip of reading frames `idxs[k]` of each clip `clips[k]`"
    t = time.process_time()
    for _ in range(passes):
        for c, i in zip(clips, idxs): c.read(i)
    return (time.process_time() - t) / len(clips) / passes * 1e6

def cpu_ns(pid:int)->int:
    "CPU time a process has run, in ns (`/proc/PID/schedstat`)"
    return int(Path(f'/proc/{pid}/schedstat').read_text().split()[0])

def batches(dl):
    "The batches of `dl`, epoch after epoch"
    while True: yield from dl

def paired(measure, windows:int)->dict:
    "`{True: [...], False: [...]}`: `measure(check)` in `windows` rounds, checked and unchecked alternating, the order swapped each round"
    res = {True: [], False: []}
    for k in range(windows):
        for check in ((True, False) if k % 2 == 0 else (False, True)): res[check].append(measure(check))
    return res

def window(it, dl, n_batches:int, dev)->tuple:
    "`(clips/s, CPU µs a clip in the workers)` over the next `n_batches` batches of `it`, batches of `dl`"
    pids = [w.pid for w in dl._workers._iterator._workers]
    cp.sync(dev); t, n, cpu = time.perf_counter(), 0, sum(map(cpu_ns, pids))
    for _ in range(n_batches): n += len(next(it)[1])
    cp.sync(dev)
    return n / (time.perf_counter() - t), (sum(map(cpu_ns, pids)) - cpu) / n / 1e3

def table(bs:int, workers:int)->str:
    rows = ['| measurement | checked | unchecked | checked / unchecked |', '|---|---|---|---|']
    for r in RESULTS:
        if r.get('step') not in ('loader', 'read', 'worker_cpu'): continue
        what = {'loader': f"loader, {r.get('size')} px x {r['seq_len']} frames, bs {bs}, {workers} workers: clips/s",
                'worker_cpu': f"the same, CPU µs a clip in the workers", 'read': f"StoredClip.read, {r['seq_len']} frames: CPU µs a clip"}[r['step']]
        rows.append(f"| {what}, median of {len(r['checked'])} | {statistics.median(r['checked']):,.1f} | "
                    f"{statistics.median(r['unchecked']):,.1f} | {r['ratio']:.3f} (neighbouring windows: {min(r['ratios']):.3f}-{max(r['ratios']):.3f}) |")
    other = {r['step']: r for r in RESULTS if r.get('step') in ('crc32', 'verify', 'rerun', 'headers')}
    if 'crc32' in other:
        c = other['crc32']
        rows.append(f"| zlib.crc32 over the store's frames ({c['frame_kb']:.1f} KB a frame) | {c['gb_per_s']:.2f} GB/s | | |")
        for r in RESULTS:
            if r.get('step') == 'read':  # what checking a clip's sampled frames costs, from the two measurements above
                us = r['seq_len'] * c['frame_kb'] / c['gb_per_s']
                rows.append(f"| crc32 of the {r['seq_len']} frames a clip's sample reads | {us:.1f} µs | | "
                            f"{us / statistics.median(r['unchecked']):.1%} of StoredClip.read unchecked |")
    if 'verify' in other: rows.append(f"| ClipStore.verify(), whole store ({other['verify']['mb']:,.0f} MB) | {other['verify']['s']:.2f} s | | |")
    if 'rerun' in other and 'headers' in other:
        rows.append(f"| build_store over the complete store: every clip checked / headers only (before) | {other['rerun']['s']:.2f} s | "
                    f"{other['headers']['s']:.2f} s | {other['rerun']['s'] / other['headers']['s']:.1f} |")
    return '\n'.join(rows)

@call_parse
def main(n_videos:int=480,       # clips generated and stored
         n_frames:int=150,       # frames per clip
         bs:int=256,             # batch size of the loader
         workers:int=None,       # loader workers and build processes (default: CPUs, at most 16)
         repeat:int=20,          # the training list is the store's clips this many times
         windows:int=8,          # timings of each side, alternating
         warm:int=10,            # batches drawn from each loader before the timing starts
         n_batches:int=20,       # batches a timing window
         root:str=None,          # working folder (default: a new temporary one); clips already there are reused
         out:str=None,           # folder for clip_checksum.jsonl and clip_checksum.md
        ):
    "The checksums' cost on the loader's clips/s, on reads, and on verifying a store"
    dev = 'cuda' if torch.cuda.is_available() else 'cpu'
    workers = workers or min(os.cpu_count() or 1, 16)
    if out: Path(out).mkdir(parents=True, exist_ok=True)
    emit(out, step='setup', argv=sys.argv[1:], torch=torch.__version__, cpus=os.cpu_count(), workers=workers, device=dev,
         n_videos=n_videos, n_frames=n_frames, bs=bs, repeat=repeat)
    sp = cp.load_seed(Path(__file__).parent/'seed_pipeline.py')
    work = Path(root or tempfile.mkdtemp(prefix='checksum-'))
    jobs = cp.clip_jobs(work/'UCF101', n_videos, 10, n_frames)
    if not all(j[0].exists() for j in jobs): parallel(sp._mk, jobs, n_workers=workers, progress=False)
    if not (work/'store/manifest.json').exists():
        el, _ = cp.timed(lambda: build_store(work/'UCF101', work/'store', n_workers=workers, progress=False), 'cpu')
        emit(out, step='build', s=el, clips_per_s=n_videos / el)
    if dev == 'cuda': emit(out, step='device', device=torch.cuda.get_device_name())

    store = ClipStore(work/'store')
    files = [c.path for c in store.clips]
    mb = sum(f.stat().st_size for f in files) / 2**20
    frames = [f.read_bytes()[int(read_clip_header(f)[2][0]):] for f in files]   # every frame of a clip, back to back
    el = min(cp.timed(lambda: [zlib.crc32(b) for b in frames], 'cpu')[0] for _ in range(3))
    emit(out, step='crc32', gb_per_s=sum(map(len, frames)) / el / 1e9, mb=mb, frame_kb=sum(map(len, frames)) / sum(c.n_frames for c in store.clips) / 1e3)
    with open(os.devnull, 'w') as null:
        stdout, sys.stdout = sys.stdout, null
        try:
            v = min(cp.timed(lambda: store.verify(n_workers=workers, progress=False), 'cpu')[0] for _ in range(2))
            r = min(cp.timed(lambda: build_store(work/'UCF101', work/'store', n_workers=workers, progress=False), 'cpu')[0] for _ in range(2))
        finally: sys.stdout = stdout
    emit(out, step='verify', s=v, mb=mb, gb_per_s=mb / 1024 / v)
    emit(out, step='rerun', s=r)
    emit(out, step='headers', s=min(cp.timed(lambda: [read_clip_header(f) for f in files], 'cpu')[0] for _ in range(3)))

    stores = {c: ClipStore(work/'store', check=c) for c in (True, False)}
    for t in (5, 16):
        idxs = [sample_frames(c.n_frames, t, 'uniform') for c in store.clips]
        res = paired(lambda check: read_cpu(stores[check].clips, idxs), windows)
        ratios = [a / b for a, b in zip(res[True], res[False])]
        emit(out, step='read', seq_len=t, checked=res[True], unchecked=res[False], ratios=ratios, ratio=statistics.median(ratios))
    for size, t in [(64, 5), (112, 16)]:
        its, loaders = {}, {}
        for check in (True, False):
            trn = list(stores[check].clips) * repeat
            items = L(trn + list(stores[check].clips[:bs]))   # a validation set of at most bs clips (not timed)
            val = list(range(len(trn), len(items)))
            dls = get_action_dataloaders(items, bs=bs, image_size=size, seq_len=t, val_idxs=val, mode='uniform', num_workers=workers, device=dev)
            its[check], loaders[check] = batches(dls.train), dls.train
            for _ in range(warm): next(its[check])
        res = paired(lambda check: window(its[check], loaders[check], n_batches, dev), windows)
        for k, step in enumerate(('loader', 'worker_cpu')):
            a, b = [r[k] for r in res[True]], [r[k] for r in res[False]]
            ratios = [x / y for x, y in zip(a, b)]
            emit(out, step=step, size=size, seq_len=t, checked=a, unchecked=b, ratios=ratios, ratio=statistics.median(ratios))
        for it in its.values(): it.close()
    md = table(bs, workers)
    print(md)
    if out: (Path(out)/'clip_checksum.md').write_text(f'`python bench/clip_checksum.py {" ".join(sys.argv[1:])}`\n\n{md}\n')
