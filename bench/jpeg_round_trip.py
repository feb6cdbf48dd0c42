#!/usr/bin/env python
"""Milliseconds per frame of `examples/onnx_predict.py`'s numpy JPEG round trip against simplejpeg's (libjpeg-turbo), CPU.

    nice -n 10 python bench/jpeg_round_trip.py [--sizes 160x120,320x240] [--reps 5] [--n 20]

videocls holds a video's frames as JPEG (quality 90, 4:2:0): `frame_to_jpeg` encodes PyAV's planes with simplejpeg and
`predict_video` decodes them. The example repeats that round trip in numpy, bit for bit. For each size, on one textured
frame (sinusoids and noise, as camera frames have) and one frame of a `videocls.testing.write_clip` clip (flat regions,
which libjpeg-turbo's entropy coder passes quickly): simplejpeg's `encode_jpeg_yuv_planes` + `decode_jpeg`, the numpy
round trip (`jpeg_round_trip`), and within it the upsampling and colour conversion (`ycbcr_to_rgb`), which the example
did before it made the round trip. Best of `--reps` timings of `--n` calls, one thread. The results are checked equal.
Then one UCF101-shaped video (150 frames of 320x240): the example's `read_video` (decode, planes) and the round trips of
the frames its 3 clips of 16 use, against videocls's `MemoryClip.from_video` plus decoding those frames.
"""
import argparse, importlib.util, os, tempfile, time
from pathlib import Path

os.environ.setdefault('OMP_NUM_THREADS', '1')
import av
import numpy as np
import simplejpeg

from videocls.testing import write_clip
from videocls.data.video import frame_to_jpeg
from videocls.data.store import MemoryClip

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location('onnx_predict', ROOT/'examples'/'onnx_predict.py')
ex = importlib.util.module_from_spec(spec); spec.loader.exec_module(ex)

def ms(f, n, reps):
    "Best milliseconds per call of `reps` timings of `n` calls `f()`, after one untimed call"
    f()
    best = float('inf')
    for _ in range(reps):
        t = time.perf_counter()
        for _ in range(n): f()
        best = min(best, (time.perf_counter() - t) / n)
    return best * 1e3

def textured(w, h, seed=0):
    "Full-range 4:2:0 planes of a textured frame"
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w]
    y = ((np.sin(yy / 7) + np.cos(xx / 11)) * 50 + 128 + rng.normal(0, 8, (h, w))).clip(0, 255).astype(np.uint8)
    return y, y[::2, ::2].copy(), (255 - y[::2, ::2]).copy()

def generated(w, h, tmp):
    "The planes `frame_to_jpeg` hands simplejpeg for the 6th frame of a `write_clip` clip"
    with av.open(str(write_clip(Path(tmp)/f'{w}x{h}.avi', n_frames=12, size=(w, h)))) as c:
        frame = list(c.decode(video=0))[5]
    return ex.frame_planes(frame, 1)

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--sizes', default='160x120,320x240')
    p.add_argument('--reps', type=int, default=5)
    p.add_argument('--n', type=int, default=20)
    a = p.parse_args()
    tmp = tempfile.mkdtemp()
    print('| frame | content | simplejpeg round trip ms | numpy round trip ms | of which upsampling + colour ms | numpy / simplejpeg |')
    print('|---|---|---|---|---|---|')
    for size in a.sizes.split(','):
        w, h = map(int, size.split('x'))
        for name, (y, u, v) in [('textured', textured(w, h)), ('write_clip', generated(w, h, tmp))]:
            sj = lambda: simplejpeg.decode_jpeg(simplejpeg.encode_jpeg_yuv_planes(y, u, v, quality=90), colorspace='RGB')
            npy = lambda: ex.jpeg_round_trip(y, u, v, 90)
            assert np.array_equal(sj(), npy()), (size, name)
            t_sj, t_np, t_up = ms(sj, a.n, a.reps), ms(npy, a.n, a.reps), ms(lambda: ex.ycbcr_to_rgb(y, u, v), a.n, a.reps)
            print(f'| {w}x{h} | {name} | {t_sj:.2f} | {t_np:.2f} | {t_up:.2f} | {t_np / t_sj:.1f}x |')
    video = write_clip(Path(tmp)/'v_Bench_g01_c01.avi', n_frames=150, size=(320, 240))
    idxs = ex.clip_indices(150, 3, 16, 'first', None)
    used = sorted(set(sum(idxs, [])))
    def example():
        frames = ex.read_video(video, None)
        return [ex.jpeg_round_trip(*frames[i], 90) for i in used]
    def videocls():
        clip = MemoryClip.from_video(video)
        return [simplejpeg.decode_jpeg(clip.jpegs[i], colorspace='RGB') for i in used]
    assert all(np.array_equal(x, y) for x, y in zip(example(), videocls()))
    t_ex, t_vc = ms(example, 1, a.reps), ms(videocls, 1, a.reps)
    print(f'\n150-frame 320x240 video, the {len(used)} frames of 3 clips of 16 consecutive frames: example (numpy) {t_ex:.0f} ms, '
          f'videocls (MemoryClip.from_video + simplejpeg decoding) {t_vc:.0f} ms')

if __name__ == '__main__': main()
