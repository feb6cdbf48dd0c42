#!/usr/bin/env python
"""Clips/s of an exported model under onnxruntime against the same model in PyTorch eager, on the CPU, one process.

    nice -n 10 python bench/onnx_throughput.py --out bench/results/cpu2_2026-12-07/onnx_throughput

For `simple` (the baseline) and `rnn` (CNN+LSTM), resnet18 encoder, 101 classes, random weights (speed does not depend
on them), 5 frames of 64x64 (the tutorial's baseline size): `export_model_onnx` writes the model (softmax included),
then both runtimes classify the same random clips, already preprocessed, at each batch size: `--warmup` untimed
batches, then the best of `--reps` timings of `--batches` batches. Both use `--threads` threads (torch's intra-op
threads, onnxruntime's `intra_op_num_threads`). Output probabilities are compared too. Writes OUT.jsonl and OUT.md.
"""
import argparse, json, os, platform, tempfile, time
from pathlib import Path

import numpy as np
import torch
import onnxruntime as ort

from videocls.models import create_video_model
from videocls.deploy import export_model_onnx, ClipProbs

def rate(f, x, batches, reps, warmup):
    "Best clips/s of `reps` timings of `batches` calls `f(x)` after `warmup` calls"
    for _ in range(warmup): f(x)
    best = 0.
    for _ in range(reps):
        t = time.perf_counter()
        for _ in range(batches): f(x)
        best = max(best, batches * len(x) / (time.perf_counter() - t))
    return best

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--out', default=str(Path(tempfile.gettempdir())/'onnx_throughput'), help='OUT.jsonl and OUT.md are written')
    p.add_argument('--models', default='simple,rnn')
    p.add_argument('--arch', default='resnet18')
    p.add_argument('--frames', type=int, default=5)
    p.add_argument('--size', type=int, default=64)
    p.add_argument('--bs', default='1,8')
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--batches', type=int, default=5)
    p.add_argument('--reps', type=int, default=3)
    p.add_argument('--warmup', type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    opts = ort.SessionOptions(); opts.intra_op_num_threads, opts.inter_op_num_threads = a.threads, 1
    env = dict(part='env', torch=torch.__version__, onnxruntime=ort.__version__, cpu=platform.processor() or platform.machine(),
               cores=os.cpu_count(), threads=a.threads, arch=a.arch, frames=a.frames, size=a.size)
    rows, tmp = [env], Path(tempfile.mkdtemp())
    print(json.dumps(env), flush=True)
    for name in a.models.split(','):
        torch.manual_seed(0)
        model, _ = create_video_model(name, 101, arch=a.arch, seq_len=a.frames, image_size=a.size)
        model.eval()
        shape = (a.frames, 3, a.size, a.size)
        checked = export_model_onnx(model, tmp/f'{name}.onnx', shape)
        sess = ort.InferenceSession(str(tmp/f'{name}.onnx'), opts, providers=['CPUExecutionProvider'])
        probs = ClipProbs(model).eval()
        for bs in map(int, a.bs.split(',')):
            x = torch.randn(bs, *shape, generator=torch.Generator().manual_seed(bs))
            xn = x.numpy()
            def eager(x):
                with torch.inference_mode(): return probs(x)
            def onnx(x): return sess.run(None, {'clips': x})[0]
            diff = float(np.abs(onnx(xn) - eager(x).numpy()).max())
            r = dict(part='rate', model=name, bs=bs, eager_clips_s=round(rate(eager, x, a.batches, a.reps, a.warmup), 1),
                     onnxruntime_clips_s=round(rate(onnx, xn, a.batches, a.reps, a.warmup), 1), max_prob_diff=diff, export_check=checked)
            r['ratio'] = round(r['onnxruntime_clips_s'] / r['eager_clips_s'], 2)
            rows.append(r)
            print(json.dumps(r), flush=True)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix('.jsonl').write_text(''.join(json.dumps(r) + '\n' for r in rows))
    md = [f"# onnxruntime vs PyTorch eager, CPU ({env['cores']} cores, {a.threads} threads), {a.arch}, {a.frames} frames of {a.size}x{a.size}, 101 classes",
          '', f"torch {env['torch']}, onnxruntime {env['onnxruntime']}; best of {a.reps} timings of {a.batches} batches; same clips for both",
          '', '| model | bs | PyTorch eager clips/s | onnxruntime clips/s | ratio | max prob. diff |', '|---|---|---|---|---|---|']
    md += [f"| {r['model']} | {r['bs']} | {r['eager_clips_s']} | {r['onnxruntime_clips_s']} | {r['ratio']} | {r['max_prob_diff']:.1e} |" for r in rows[1:]]
    out.with_suffix('.md').write_text('\n'.join(md) + '\n')
    print('\n'.join(md))

if __name__ == '__main__': main()
