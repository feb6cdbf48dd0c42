#!/usr/bin/env python
"""Speed and memory of `predict_timeline` on a long video: frames decoded per second, windows per second, peak RSS.

    python bench/timeline.py                                  # 30 minutes at the built-in dataset's settings, CPU
    python bench/timeline.py --minutes 1 --threads 1          # a quick check
    python bench/timeline.py --device cuda --bs 256           # on a GPU

The video: the built-in dataset's clips (`synthetic_clip`, 64x64, 25 fps), 16 frames each, in segments of 10 s of one
class, written frame by frame (streaming: memory stays flat) as an intra-only XVID .avi, kept in `--dir` and reused.
The learner: the baseline `simple` (resnet18) at the built-in dataset's settings (8 frames of 64 px, 'uniform', windows of
16 frames = the training videos' length, stride 8), made on a small built-in store, exported and loaded back as a user
has it. Its weights are untrained: speed and memory do not depend on them. Prints one JSON line.
"""
import argparse, json, os, resource, time
from pathlib import Path

def rss_mb()->float:
    "The resident memory of this process now, MB"
    for line in Path('/proc/self/status').read_text().splitlines():
        if line.startswith('VmRSS:'): return int(line.split()[1]) / 1024
    return float('nan')

def peak_rss_mb()->float: return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KB

def write_long_video(fname:Path, minutes:float, size=(64, 64), fps:int=25, seg_s:float=10, clip_len:int=16)->int:
    "Write a video of `minutes` of built-in clips, `seg_s` seconds of one class after another, frame by frame; its frame count"
    import av, numpy as np
    from videocls.data.synthetic import synthetic_clip, SYNTHETIC_CLASSES
    n, per_seg = int(minutes * 60 * fps), int(seg_s * fps)
    tmp = fname.with_name(f'.partial-{fname.name}')
    with av.open(str(tmp), 'w', format='avi') as c:
        s = c.add_stream('mpeg4', rate=fps)
        s.width, s.height, s.pix_fmt = *size, 'yuv420p'
        s.codec_context.codec_tag, s.codec_context.gop_size, s.codec_context.qmin, s.codec_context.qmax = 'XVID', 1, 2, 2
        i = k = 0
        while i < n:
            cls = SYNTHETIC_CLASSES[(i // per_seg) % len(SYNTHETIC_CLASSES)]
            for f in synthetic_clip(cls, 1 + k % 10, 1 + k // 10 % 3, clip_len, size)[:min(clip_len, n - i, per_seg - i % per_seg)]:
                for p in s.encode(av.VideoFrame.from_ndarray(f, format='rgb24')): c.mux(p)
                i += 1
            k += 1
        for p in s.encode(): c.mux(p)
    os.replace(tmp, fname)
    return n

def make_learner(folder:Path, device:str):
    "The baseline at the built-in dataset's settings, on a small built-in store, exported and loaded back"
    import warnings
    from fastai.learner import load_learner
    from videocls.data.synthetic import make_synthetic_videos
    from videocls.data.store import make_store
    from videocls.data.core import get_action_dataloaders
    from videocls.learner import video_learner
    make_synthetic_videos(folder/'videos', n_groups=2, clips_per_group=2, n_frames=16, size=(64, 64))
    store = make_store(folder/'videos', folder/'store', n_workers=1, progress=False)  # min_size 112 (videocls-train's): 64 px kept
    dls = get_action_dataloaders(store, bs=4, image_size=64, seq_len=8, mode='uniform', num_workers=0, device=device,
                                 val_idxs=list(range(0, len(store.clips), 4)))
    video_learner(dls, 'simple', arch='resnet18', precision='fp32').export(folder/'simple.pkl')
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return load_learner(folder/'simple.pkl', cpu=device == 'cpu')

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--minutes', type=float, default=30, help='length of the video')
    ap.add_argument('--dir', default='/tmp/videocls-bench-timeline', help='folder for the video and the learner (reused)')
    ap.add_argument('--device', default='cpu', help="'cpu' or 'cuda'")
    ap.add_argument('--bs', type=int, default=64, help='windows per batch')
    ap.add_argument('--threads', type=int, default=None, help='torch intra-op threads (default: torch\'s)')
    a = ap.parse_args()
    import torch
    if a.threads: torch.set_num_threads(a.threads)
    from videocls.data.video import jpeg_frames
    from videocls.timeline import predict_timeline
    d = Path(a.dir); d.mkdir(parents=True, exist_ok=True)
    video = d/f'long_{a.minutes:g}min.avi'
    t0 = time.perf_counter()
    n_frames = write_long_video(video, a.minutes) if not video.exists() else None
    write_s = time.perf_counter() - t0
    learn = make_learner(d/'learner', a.device)
    spec = learn.dls.spec
    t0 = time.perf_counter()
    n = sum(1 for _ in jpeg_frames(video, min_size=spec.min_size))  # decoding alone: PyAV + the store's JPEG of each frame
    decode_s = time.perf_counter() - t0
    rss_before = rss_mb()
    t0 = time.perf_counter()
    df = predict_timeline(learn, video, bs=a.bs)
    if a.device != 'cpu': torch.cuda.synchronize()
    tl_s = time.perf_counter() - t0
    video_s = n / 25
    # `device`: where the model ran, read from its weights (not the loaders' device: a learner made on the CPU stays there)
    res = dict(bench='timeline', video=str(video), minutes=a.minutes, frames=n, frame_size='64x64', fps=25,
               model='simple resnet18 fp32', seq_len=spec.seq_len, image_size=spec.image_size, window_frames=int(round((df.end[0] - df.start[0]) * 25)),
               stride_frames=int(round((df.start[1] - df.start[0]) * 25)) if len(df) > 1 else None,
               device=str(next(learn.model.parameters()).device), bs=a.bs, torch_threads=torch.get_num_threads(), windows=len(df),
               covers_s=[float(df.start.min()), float(df.end.max())], video_s=video_s,
               write_video_s=round(write_s, 1) if n_frames else None,
               decode_only_frames_per_s=round(n / decode_s), timeline_s=round(tl_s, 1),
               timeline_frames_per_s=round(n / tl_s), windows_per_s=round(len(df) / tl_s, 1),
               times_real_time=round(video_s / tl_s, 1), rss_before_timeline_mb=round(rss_before), peak_rss_mb=round(peak_rss_mb()),
               torch=torch.__version__, cpus=os.cpu_count(), load_avg=[round(x, 1) for x in os.getloadavg()])
    print(json.dumps(res))

if __name__ == '__main__': main()
