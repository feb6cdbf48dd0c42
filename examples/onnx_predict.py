"""Classify video files with a model exported by `videocls-export`, without videocls: onnxruntime, PyAV and numpy only.

    python onnx_predict.py MODEL.onnx VIDEO... [--n-clips 3] [--k 5]

prints `VIDEO: CLASS P%, ...`, the line `videocls-predict` prints, from the same clips averaged the same way. MODEL.json
(written beside MODEL.onnx) says how a video becomes the model's input; each step below names the step of videocls it
reproduces. One step cannot be reproduced with PyAV and numpy alone: videocls keeps a video's frames in memory as JPEG
(quality 90, as its clip store does), and JPEG is lossy. If `simplejpeg` (the libjpeg-turbo wrapper videocls uses) is
installed, this script makes the same JPEG round trip and matches videocls-predict to float rounding; without it the
frames skip the JPEG compression (decoded as libjpeg would decode them, they differ by about 1 level per pixel on average
at quality 90, up to 10-20 at sharp edges) and the probabilities differ slightly.
"""
import argparse, json, sys
from pathlib import Path

import av
import numpy as np
import onnxruntime as ort

try: import simplejpeg  # optional: the exact JPEG round trip (see above)
except ImportError: simplejpeg = None

# --- decoding and the shrink rule (videocls.data.video.jpeg_frames / frame_to_jpeg) ---
_Y_FULL = np.clip(np.round((np.arange(256) - 16) * 255 / 219), 0, 255).astype(np.uint8)        # luma 16-235 -> 0-255
_C_FULL = np.clip(np.round((np.arange(256) - 128) * 255 / 224 + 128), 0, 255).astype(np.uint8)  # chroma 16-240 -> 0-255

def reduce_plane(a, f):
    "Shrink the uint8 plane `a` `f` times with a box filter, rounding exactly as Pillow's `Image.reduce` does"
    if f == 1: return a
    h, w = a.shape
    H, W = -(-h // f), -(-w // f)  # a partial box at the right and bottom edges averages what it holds
    s = np.zeros((H * f, W * f), np.uint32); s[:h, :w] = a
    n = np.zeros((H * f, W * f), np.uint32); n[:h, :w] = 1
    s, n = s.reshape(H, f, W, f).sum((1, 3)), n.reshape(H, f, W, f).sum((1, 3))
    mult = (np.float32(2 ** 32) / (256 * n).astype(np.float32)).astype(np.uint64)  # Pillow's fixed-point division
    return (((s + n // 2).astype(np.uint64) * mult & 0xFFFFFFFF) >> 24).astype(np.uint8)

def _fancy_up(c, h, w):
    "Chroma plane `c` at twice its size, cut to `(h, w)`: libjpeg's h2v2 'fancy' (triangle) upsampling, in its integer arithmetic"
    c = c.astype(np.int32)
    rows = np.empty((2 * c.shape[0], c.shape[1]), np.int32)
    rows[0::2] = 3 * c + np.vstack([c[:1], c[:-1]])   # 3/4 this row + 1/4 the nearer neighbour (edges repeat)
    rows[1::2] = 3 * c + np.vstack([c[1:], c[-1:]])
    left, right = np.hstack([rows[:, :1], rows[:, :-1]]), np.hstack([rows[:, 1:], rows[:, -1:]])
    out = np.empty((rows.shape[0], 2 * c.shape[1]), np.int32)
    out[:, 0::2], out[:, 1::2] = (3 * rows + left + 8) >> 4, (3 * rows + right + 7) >> 4
    out[:, 0], out[:, -1] = (4 * rows[:, 0] + 8) >> 4, (4 * rows[:, -1] + 7) >> 4
    return out[:h, :w]

_fix = lambda x: int(x * 65536 + 0.5)
_i = np.arange(256) - 128
_CR_R, _CB_B = (_fix(1.40200) * _i + 32768) >> 16, (_fix(1.77200) * _i + 32768) >> 16
_CR_G, _CB_G = -_fix(0.71414) * _i, -_fix(0.34414) * _i + 32768

def ycbcr_to_rgb(y, cb, cr):
    "RGB of full-range (JFIF) 4:2:0 planes as libjpeg decodes them (fancy upsampling, its fixed-point tables): the frame without the JPEG loss"
    h, w = y.shape
    cb, cr, y = _fancy_up(cb, h, w), _fancy_up(cr, h, w), y.astype(np.int32)
    rgb = np.stack([y + _CR_R[cr], y + ((_CB_G[cb] + _CR_G[cr]) >> 16), y + _CB_B[cb]], -1)
    return np.clip(rgb, 0, 255).astype(np.uint8)

def frame_rgb(frame, factor, quality):
    "A decoded frame as uint8 RGB `(H, W, 3)`, shrunk `factor` times, as videocls's `MemoryClip.from_video` holds it"
    fmt = frame.format.name
    if fmt not in ('yuv420p', 'yuvj420p'):  # other layouts: through RGB once
        rgb = frame.to_ndarray(format='rgb24')
        rgb = np.stack([reduce_plane(rgb[..., c], factor) for c in range(3)], -1)
        return simplejpeg.decode_jpeg(simplejpeg.encode_jpeg(rgb, quality=quality, colorsubsampling='420'), colorspace='RGB') if simplejpeg else rgb
    planes = [reduce_plane(np.frombuffer(p, np.uint8).reshape(p.height, p.line_size)[:, :p.width], factor) for p in frame.planes]
    if fmt == 'yuv420p' and frame.color_range != 2: planes = [np.take(lut, q) for lut, q in zip((_Y_FULL, _C_FULL, _C_FULL), planes)]
    if simplejpeg: return simplejpeg.decode_jpeg(simplejpeg.encode_jpeg_yuv_planes(*planes, quality=quality), colorspace='RGB')
    return ycbcr_to_rgb(*planes)

def read_video(path, min_size, quality):
    "All frames of `path` as uint8 `(N, H, W, 3)`, shrunk by the largest whole factor keeping the short side >= `min_size`"
    frames, size, factor = [], None, 1
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        s.codec_context.options = {'err_detect': 'explode'}
        for frame in c.decode(s):
            if size is None:
                size = (frame.width, frame.height)
                factor = 1 if min_size is None else max(1, min(size) // min_size)
            elif (frame.width, frame.height) != size: frame = frame.reformat(*size)  # a resolution change mid-stream
            frames.append(frame_rgb(frame, factor, quality))
    if not frames: raise ValueError(f'{path}: holds no video frames')
    return np.stack(frames)

# --- which frames (videocls.data.clip.sample_frames / clip_indices) ---
def sample_frames(n_frames, seq_len, mode):
    if mode == 'uniform': return np.linspace(0, n_frames - 1, seq_len).round().astype(int).tolist()
    start = 0  # 'first'
    idxs = list(range(start, min(start + seq_len, n_frames)))
    return idxs + [idxs[-1]] * (seq_len - len(idxs))

def clip_indices(n_frames, n_clips, seq_len, mode, span=None):
    "Frame indices of `n_clips` clips spread evenly over the video, each covering what a training clip covered"
    span = min(n_frames, span or n_frames if mode in ('uniform', 'segments') else seq_len)
    starts = np.linspace(0, n_frames - span, n_clips).round().astype(int)
    if mode == 'segments':
        seg = span / seq_len
        return [[int(s + min(int(seg * (k + (j + 0.5) / n_clips)), span - 1)) for k in range(seq_len)] for j, s in enumerate(starts)]
    within = sample_frames(span, seq_len, 'uniform' if mode == 'uniform' else 'first')
    return [[int(s + i) for i in within] for s in starts]

# --- fitting to the store's frame size (videocls.data.clip.ClipTfm: PIL's ImageOps.fit, bilinear) ---
def _pil_coeffs(in_size, in0, in1, out_size):
    "Pillow's bilinear resampling weights (`precompute_coeffs` + `normalize_coeffs_8bpc`) as a matrix `(out_size, in_size)` of fixed-point ints"
    in0, in1 = np.float32(in0), np.float32(in1)  # Pillow passes the box as C floats
    scale = float(in1 - in0) / out_size
    fscale = max(scale, 1.0)
    support = 1.0 * fscale
    m = np.zeros((out_size, in_size), np.int64)
    for xx in range(out_size):
        center = float(in0) + (xx + 0.5) * scale
        xmin, xmax = max(int(center - support + 0.5), 0), min(int(center + support + 0.5), in_size)
        k = np.array([max(0.0, 1 - abs((x - center + 0.5) / fscale)) for x in range(xmin, xmax)])
        if k.sum() != 0: k = k / k.sum()
        m[xx, xmin:xmax] = np.where(k < 0, np.trunc(-0.5 + k * (1 << 22)), np.trunc(0.5 + k * (1 << 22)))
    return m

def _apply(m, a, axis):
    out = np.tensordot(a.astype(np.int64), m, axes=([axis], [1]))  # the resampled axis goes last
    out = np.moveaxis(out, -1, axis)
    return np.clip((out + (1 << 21)) >> 22, 0, 255).astype(np.uint8)

def fit(frame, size):
    "`frame` `(H, W, 3)` cropped to the aspect of `size` `(width, height)` about its centre and resized, as Pillow's `ImageOps.fit(..., BILINEAR)`"
    h, w = frame.shape[:2]
    out_w, out_h = size
    if w / h == out_w / out_h: cw, ch = w, h
    elif w / h >= out_w / out_h: cw, ch = out_w / out_h * h, h
    else: cw, ch = w, w / (out_w / out_h)
    x0, y0 = (w - cw) * 0.5, (h - ch) * 0.5
    if out_w != w or x0 or x0 + cw != w: frame = _apply(_pil_coeffs(w, x0, x0 + cw, out_w), frame, 1)  # horizontal pass first
    else: frame = frame[:, :out_w]
    if out_h != h or y0 or y0 + ch != h: frame = _apply(_pil_coeffs(h, y0, y0 + ch, out_h), frame, 0)
    return frame

# --- the model's crop, resize and normalisation (videocls.data.augment.ClipBatchTfm, outside training) ---
def _roi_weights(length, start, side, out):
    "torchvision's `roi_align` (aligned, adaptive sampling) along one axis, as a matrix `(out, length)`"
    start, bin_size = start - 0.5, side / out
    grid = int(np.ceil(side / out))
    m = np.zeros((out, length), np.float64)
    for p in range(out):
        for i in range(grid):
            y = start + p * bin_size + (i + 0.5) * bin_size / grid
            if y < -1.0 or y > length: continue
            y = max(y, 0.0)
            lo = int(y)
            if lo >= length - 1: lo = hi = length - 1; y = float(lo)
            else: hi = lo + 1
            m[p, lo] += (1 - (y - lo)) / grid; m[p, hi] += (y - lo) / grid
    return m.astype(np.float32)

def model_input(frames, image_size, stats, crop=0.5):
    "Clips `(B, T, H, W, 3)` uint8 -> `(B, T, 3, S, S)` float32: the square at `crop` of the long side, resized to `S`, normalised"
    h, w = frames.shape[2:4]
    side = min(h, w)
    wy, wx = _roi_weights(h, (h - side) * crop, side, image_size), _roi_weights(w, (w - side) * crop, side, image_size)
    x = np.einsum('sh,bthwc,rw->btcsr', wy, frames.astype(np.float32), wx, optimize=True)  # (B, T, 3, S, S), 0-255
    mean, std = (np.array(s, np.float32).reshape(1, 1, 3, 1, 1) * 255 for s in stats)
    return ((x - mean) / std).astype(np.float32)

# --- a video's prediction (videocls.inference.predict_video) ---
def video_probs(session, spec, path, n_clips=3):
    "Class probabilities of `path` `(n_classes,)`: the mean over `n_clips` clips spread across it"
    c = spec['clip']
    frames = read_video(path, c['min_size'], spec['video']['jpeg_quality'])
    if len(frames) < c['seq_len']: raise ValueError(f"{path}: {len(frames)} frame(s), fewer than the {c['seq_len']} of one clip of this model; "
                                                    f"give a video of at least {c['seq_len']} frames")
    clips = np.stack([frames[idxs] for idxs in clip_indices(len(frames), n_clips, c['seq_len'], c['mode'], c['span'])])
    size = tuple(c['size'])
    if frames.shape[1:3] != (size[1], size[0]): clips = np.stack([[fit(f, size) for f in clip] for clip in clips])
    x = model_input(clips, c['image_size'], (c['mean'], c['std']))
    return session.run([spec['model']['output']], {spec['model']['input']: x})[0].mean(0)

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('model', help='MODEL.onnx written by videocls-export (MODEL.json beside it)')
    p.add_argument('videos', nargs='+', help='video files to classify')
    p.add_argument('--n-clips', type=int, default=3, help='clips sampled across each video; their probabilities are averaged')
    p.add_argument('--k', type=int, default=5, help='labels to show per video')
    a = p.parse_args(argv)
    model = Path(a.model)
    spec_file = model.with_suffix('.json')
    if not spec_file.is_file(): p.error(f'{spec_file}: not found; it is written beside {model} by videocls-export')
    spec = json.loads(spec_file.read_text())
    session = ort.InferenceSession(str(model), providers=['CPUExecutionProvider'])
    failed = 0
    for v in a.videos:
        try: probs = video_probs(session, spec, v, a.n_clips)
        except (OSError, ValueError, av.FFmpegError) as e: print(f'{v}: error: {e}'); failed += 1; continue
        top = np.argsort(-probs, kind='stable')[:min(a.k, len(probs))]
        print(f'{v}: ' + ', '.join(f"{spec['vocab'][i]} {float(probs[i]):.1%}" for i in top))
    return 1 if failed else 0

if __name__ == '__main__': sys.exit(main())
