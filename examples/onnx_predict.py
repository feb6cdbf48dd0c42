"""Classify video files with a model exported by `videocls-export`, without videocls: onnxruntime, PyAV and numpy only.

    python onnx_predict.py MODEL.onnx VIDEO... [--n-clips 3] [--k 5]

prints `VIDEO: CLASS P%, ...`, the line `videocls-predict` prints, from the same clips averaged the same way. MODEL.json
(written beside MODEL.onnx) says how a video becomes the model's input; each step below names the step of videocls it
reproduces. videocls keeps a video's frames in memory as JPEG (quality 90, 4:2:0, as its clip store does), and JPEG is
lossy: this script makes the same round trip in numpy, bit for bit as libjpeg-turbo 3.1 (simplejpeg's) makes it, each
step naming the libjpeg-turbo file and function whose integer arithmetic it repeats. So its frames are videocls's
frames exactly, and its probabilities equal videocls-predict's to float rounding, with no JPEG library installed. numpy
takes a few ms a frame where libjpeg-turbo takes a fraction of one, so only the frames the clips use make the round
trip. Not reproduced (an error says so): JPEG quality 96 or more (TurboJPEG's other forward DCT), and frames 1 pixel
wide or high (simplejpeg encodes those 4:4:0 or 4:2:2).
"""
import argparse, functools, json, sys
from pathlib import Path

import av
import numpy as np
import onnxruntime as ort

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

def frame_planes(frame, factor):
    "The uint8 Y, Cb, Cr planes (4:2:0, full range) videocls's `frame_to_jpeg` hands libjpeg-turbo for a decoded frame, shrunk `factor` times"
    fmt = frame.format.name
    if fmt not in ('yuv420p', 'yuvj420p'):  # other layouts: through RGB once, and encoded from RGB
        rgb = frame.to_ndarray(format='rgb24')
        return rgb_to_planes(np.stack([reduce_plane(rgb[..., c], factor) for c in range(3)], -1))
    planes = [reduce_plane(np.frombuffer(p, np.uint8).reshape(p.height, p.line_size)[:, :p.width], factor) for p in frame.planes]
    if fmt == 'yuv420p' and frame.color_range != 2: planes = [np.take(lut, q) for lut, q in zip((_Y_FULL, _C_FULL, _C_FULL), planes)]
    return planes

def read_video(path, min_size):
    "The planes (`frame_planes`) of every frame of `path`, shrunk by the largest whole factor keeping the short side >= `min_size`"
    frames, size, factor = [], None, 1
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        s.codec_context.options = {'err_detect': 'explode'}
        for frame in c.decode(s):
            if size is None:
                size = (frame.width, frame.height)
                factor = 1 if min_size is None else max(1, min(size) // min_size)
            elif (frame.width, frame.height) != size: frame = frame.reformat(*size)  # a resolution change mid-stream
            frames.append(frame_planes(frame, factor))
    if not frames: raise ValueError(f'{path}: holds no video frames')
    return frames

# --- the JPEG round trip (frame_to_jpeg's simplejpeg.encode_jpeg_yuv_planes / encode_jpeg, then simplejpeg.decode_jpeg) ---
# libjpeg-turbo 3.1's integer arithmetic, step by step. simplejpeg calls TurboJPEG's older API, which (turbojpeg.c
# `processFlags`) compresses with the fast integer forward DCT below quality 96, and decompresses with the accurate
# integer inverse DCT and fancy upsampling: that is the pair reproduced here. libjpeg-turbo runs SIMD versions of most
# steps; they give the C code's results (videocls's tests/test_deploy.py compares this script's frames with simplejpeg's).
_LUMA_QT = np.array([16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
                     14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
                     49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99]).reshape(8, 8)
_CHROMA_QT = np.full((8, 8), 99); _CHROMA_QT[:4, :4] = [[17, 18, 24, 47], [18, 21, 26, 66], [24, 26, 56, 99], [47, 66, 99, 99]]
_AANSCALES = np.array([16384, 22725, 21407, 19266, 16384, 12873, 8867, 4520, 22725, 31521, 29692, 26722, 22725, 17855, 12299, 6270,
                       21407, 29692, 27969, 25172, 21407, 16819, 11585, 5906, 19266, 26722, 25172, 22654, 19266, 15137, 10426, 5315,
                       16384, 22725, 21407, 19266, 16384, 12873, 8867, 4520, 12873, 17855, 16819, 15137, 12873, 10114, 6967, 3552,
                       8867, 12299, 11585, 10426, 8867, 6967, 4799, 2446, 4520, 6270, 5906, 5315, 4520, 3552, 2446, 1247]).reshape(8, 8)

def quant_table(basic, quality):
    "jcparam.c `jpeg_quality_scaling` + `jpeg_add_quant_table(force_baseline=TRUE)`: the quantisation table `quality` makes of `basic`"
    quality = min(max(quality, 1), 100)
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return np.clip((basic * scale + 50) // 100, 1, 255)

def _reciprocals(divisors):
    "jcdctmgr.c `compute_reciprocal`: `(fq, c, r)` with which `quantize` divides by each divisor, rounding: `((x + c) * fq) >> r`"
    fq, c, r = (np.zeros_like(divisors) for _ in range(3))
    for i, d in np.ndenumerate(divisors):
        d = int(d)
        if d == 1: fq[i], c[i], r[i] = 1, 0, 0; continue
        r[i] = 16 + d.bit_length() - 1
        fq[i], rem = divmod(1 << int(r[i]), d)
        c[i] = d // 2
        if rem == 0: fq[i] >>= 1; r[i] -= 1   # a power of two
        elif rem <= d // 2: c[i] += 1
        else: fq[i] += 1
    return fq, c, r

@functools.lru_cache
def _quantizers(quality, n_blocks):
    "`(table, fq, c, r)` of each block `(8, 8, sum(n_blocks))`: luma's for the `n_blocks[0]` of Y, chroma's for those of Cb and Cr; the divisors are the fast DCT's (jcdctmgr.c `start_pass_fdctmgr`, JDCT_IFAST)"
    qt = np.stack([quant_table(_LUMA_QT, quality), quant_table(_CHROMA_QT, quality)], -1)   # (8, 8, 2)
    which = np.repeat([0, 1, 1], n_blocks)
    return tuple(a[:, :, which].astype(np.int32) for a in (qt, *_reciprocals((qt * _AANSCALES[..., None] + (1 << 10)) >> 11)))

def _fdct_ifast(d):
    "jfdctfst.c `jpeg_fdct_ifast`: one pass of the fast (AA&N) forward DCT over the 8 arrays `d`, its products truncated to 8 fraction bits"
    mul = lambda v, k: (v * k) >> 8   # MULTIPLY: DESCALE without rounding
    tmp0, tmp7, tmp1, tmp6 = d[0] + d[7], d[0] - d[7], d[1] + d[6], d[1] - d[6]
    tmp2, tmp5, tmp3, tmp4 = d[2] + d[5], d[2] - d[5], d[3] + d[4], d[3] - d[4]
    tmp10, tmp13, tmp11, tmp12 = tmp0 + tmp3, tmp0 - tmp3, tmp1 + tmp2, tmp1 - tmp2   # even part
    z1 = mul(tmp12 + tmp13, 181)
    out0, out4, out2, out6 = tmp10 + tmp11, tmp10 - tmp11, tmp13 + z1, tmp13 - z1
    tmp10, tmp11, tmp12 = tmp4 + tmp5, tmp5 + tmp6, tmp6 + tmp7   # odd part
    z5 = mul(tmp10 - tmp12, 98)
    z2, z4, z3 = mul(tmp10, 139) + z5, mul(tmp12, 334) + z5, mul(tmp11, 181)
    z11, z13 = tmp7 + z3, tmp7 - z3
    return [out0, z11 + z4, out2, z13 - z2, out4, z13 + z2, out6, z11 - z4]

def _idct_islow(d, shift):
    "jidctint.c `jpeg_idct_islow`: one pass of the accurate inverse DCT over the 8 arrays `d`, 13-bit constants, rounded off by `shift` bits"
    z1 = (d[2] + d[6]) * 4433   # even part
    tmp2, tmp3 = z1 - d[6] * 15137, z1 + d[2] * 6270
    tmp0, tmp1 = (d[0] + d[4]) << 13, (d[0] - d[4]) << 13
    tmp10, tmp13, tmp11, tmp12 = tmp0 + tmp3, tmp0 - tmp3, tmp1 + tmp2, tmp1 - tmp2
    t0, t1, t2, t3 = d[7], d[5], d[3], d[1]   # odd part
    z5 = (t0 + t1 + t2 + t3) * 9633
    z1, z2 = (t0 + t3) * -7373, (t1 + t2) * -20995
    z3, z4 = (t0 + t2) * -16069 + z5, (t1 + t3) * -3196 + z5
    t0, t1, t2, t3 = t0 * 2446 + z1 + z3, t1 * 16819 + z2 + z4, t2 * 25172 + z2 + z3, t3 * 12299 + z1 + z4
    half = 1 << (shift - 1)   # DESCALE
    return [(o + half) >> shift for o in (tmp10 + t3, tmp11 + t2, tmp12 + t1, tmp13 + t0, tmp13 - t0, tmp12 - t1, tmp11 - t2, tmp10 - t3)]

def _along_rows(f, x, *args): return np.stack(f([x[:, k] for k in range(8)], *args), 1)   # blocks `x` (8, 8, n): each row
def _along_cols(f, x, *args): return np.stack(f(list(x), *args), 0)                       # each column

_fix = lambda x: int(x * 65536 + 0.5)   # FIX(): 16 fraction bits (jccolor.c, jdcolor.c)

def rgb_to_planes(rgb):
    "Y, Cb, Cr planes libjpeg-turbo encodes an RGB frame as, 4:2:0: jccolor.c `rgb_ycc_convert`, then jcsample.c `h2v2_downsample`"
    r, g, b = (rgb[..., k].astype(np.int64) for k in range(3))
    y = (_fix(0.29900) * r + _fix(0.58700) * g + _fix(0.11400) * b + 32768) >> 16
    cb = (-_fix(0.16874) * r - _fix(0.33126) * g + _fix(0.5) * b + (128 << 16) + 32767) >> 16   # 0.5 - epsilon: no range limit needed
    cr = (_fix(0.5) * r - _fix(0.41869) * g - _fix(0.08131) * b + (128 << 16) + 32767) >> 16
    h, w = y.shape
    out_w = -(-w // 16) * 8   # the chroma plane's width in whole blocks
    def down(c):   # the last column repeated to twice that width, the last row to an even height; bias 1, 2, 1, 2... across
        c = np.pad(c, ((0, h % 2), (0, 2 * out_w - w)), mode='edge')
        s = c[0::2, 0::2] + c[0::2, 1::2] + c[1::2, 0::2] + c[1::2, 1::2]
        return ((s + np.tile([1, 2], out_w // 2)) >> 2).astype(np.uint8)
    return y.astype(np.uint8), down(cb), down(cr)

def _blocks(plane):
    "`plane` `(h, w)` as 8x8 blocks `(8, 8, n)`, edge-padded to whole blocks as turbojpeg.c `tj3CompressFromYUVPlanes8` pads it (it repeats the last column and row)"
    h, w = plane.shape
    H, W = -(-h // 8) * 8, -(-w // 8) * 8
    p = np.pad(plane, ((0, H - h), (0, W - w)), mode='edge')
    return p.reshape(H // 8, 8, W // 8, 8).transpose(1, 3, 0, 2).reshape(8, 8, -1)

def _plane(blocks, h, w):
    "The blocks `(8, 8, n)` of a `(h, w)` plane put back together"
    H, W = -(-h // 8) * 8, -(-w // 8) * 8
    return blocks.reshape(8, 8, H // 8, W // 8).transpose(2, 0, 3, 1).reshape(H, W)[:h, :w]

def _fancy_up(c, h, w):
    "Chroma plane `c` at twice its size, cut to `(h, w)`: libjpeg's h2v2 'fancy' (triangle) upsampling (jdsample.c `h2v2_fancy_upsample`), in its integer arithmetic"
    if c.shape[1] <= 2: return c.repeat(2, 0).repeat(2, 1)[:h, :w]   # jdsample.c `jinit_upsampler`: plain `h2v2_upsample` for planes this narrow
    c = c.astype(np.int32)
    rows = np.empty((2 * c.shape[0], c.shape[1]), np.int32)
    rows[0::2] = 3 * c + np.vstack([c[:1], c[:-1]])   # 3/4 this row + 1/4 the nearer neighbour (edges repeat)
    rows[1::2] = 3 * c + np.vstack([c[1:], c[-1:]])
    left, right = np.hstack([rows[:, :1], rows[:, :-1]]), np.hstack([rows[:, 1:], rows[:, -1:]])
    out = np.empty((rows.shape[0], 2 * c.shape[1]), np.int32)
    out[:, 0::2], out[:, 1::2] = (3 * rows + left + 8) >> 4, (3 * rows + right + 7) >> 4
    out[:, 0], out[:, -1] = (4 * rows[:, 0] + 8) >> 4, (4 * rows[:, -1] + 7) >> 4
    return out[:h, :w]

_i = np.arange(256, dtype=np.int32) - 128   # jdcolor.c `build_ycc_rgb_table`
_CR_R, _CB_B = (_fix(1.40200) * _i + 32768) >> 16, (_fix(1.77200) * _i + 32768) >> 16
_CR_G, _CB_G = -_fix(0.71414) * _i, -_fix(0.34414) * _i + 32768

def ycbcr_to_rgb(y, cb, cr):
    "RGB uint8 `(H, W, 3)` of full-range (JFIF) 4:2:0 planes as libjpeg decodes them: fancy upsampling, then jdcolor.c `ycc_rgb_convert`'s fixed-point tables"
    h, w = y.shape
    cb, cr, y = _fancy_up(cb[:-(-h // 2), :-(-w // 2)], h, w), _fancy_up(cr[:-(-h // 2), :-(-w // 2)], h, w), y.astype(np.int32)
    rgb = np.stack([y + _CR_R[cr], y + ((_CB_G[cb] + _CR_G[cr]) >> 16), y + _CB_B[cb]], -1)
    return np.clip(rgb, 0, 255).astype(np.uint8)

def jpeg_round_trip(y, cb, cr, quality):
    "The RGB frame `(H, W, 3)` libjpeg-turbo decodes from the JPEG it encodes of the planes `y` `(H, W)` and `cb`, `cr` (4:2:0)"
    if quality >= 96: raise ValueError(f'JPEG quality {quality}: this script reproduces TurboJPEG below quality 96 (its fast forward DCT) only')
    if min(y.shape) < 2: raise ValueError(f'a {y.shape[1]}x{y.shape[0]} frame: simplejpeg encodes frames 1 pixel wide or high as 4:4:0 or 4:2:2, '
                                          'which this script does not reproduce; give a video whose frames are at least 2x2 after the shrink')
    planes = (y, cb, cr)
    blocks = [_blocks(p) for p in planes]   # all blocks of the frame go through each step at once
    n = tuple(b.shape[-1] for b in blocks)
    qt, fq, c, r = _quantizers(quality, n)
    x = np.concatenate(blocks, -1).astype(np.int32) - 128                    # jcdctmgr.c `convsamp`: level shift
    x = _along_cols(_fdct_ifast, _along_rows(_fdct_ifast, x))                # jfdctfst.c: rows, then columns
    q = ((np.abs(x) + c).astype(np.int64) * fq >> r).astype(np.int32)      # jcdctmgr.c `quantize`: rounded division, by reciprocal
    x = np.where(x < 0, -q, q) * qt                                          # the decoder's dequantisation
    x = _along_rows(_idct_islow, _along_cols(_idct_islow, x, 11), 18)        # jidctint.c: columns (PASS1_BITS 2), then rows
    x = np.clip(x + 128, 0, 255).astype(np.uint8)                            # its range limit
    y, cb, cr = (_plane(b, *p.shape) for b, p in zip(np.split(x, np.cumsum(n)[:-1], -1), planes))
    return ycbcr_to_rgb(y, cb, cr)

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

# --- a video's prediction (videocls.inference.video_clip_probs / predict_video) ---
def clip_probs(session, spec, path, n_clips=3):
    "Class probabilities of each of `n_clips` clips spread across `path` `(n_clips, n_classes)`"
    c = spec['clip']
    frames = read_video(path, c['min_size'])
    if len(frames) < c['seq_len']: raise ValueError(f"{path}: {len(frames)} frame(s), fewer than the {c['seq_len']} of one clip of this model; "
                                                    f"give a video of at least {c['seq_len']} frames")
    idxs = clip_indices(len(frames), n_clips, c['seq_len'], c['mode'], c['span'])
    rgb = {i: jpeg_round_trip(*frames[i], spec['video']['jpeg_quality']) for i in sorted(set(sum(idxs, [])))}  # only the frames clips use
    clips = np.stack([[rgb[i] for i in clip] for clip in idxs])
    size = tuple(c['size'])
    if clips.shape[2:4] != (size[1], size[0]): clips = np.stack([[fit(f, size) for f in clip] for clip in clips])
    x = model_input(clips, c['image_size'], (c['mean'], c['std']))
    return session.run([spec['model']['output']], {spec['model']['input']: x})[0]

def video_probs(session, spec, path, n_clips=3):
    "Class probabilities of `path` `(n_classes,)`: the mean over `n_clips` clips spread across it"
    return clip_probs(session, spec, path, n_clips).mean(0)

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
