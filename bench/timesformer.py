#!/usr/bin/env python
"""TimeSformer with fused attention against timesformer-pytorch's einsum attention, and the seed tutorial's
`MyTimeSformer`, in one process on one GPU: outputs, training throughput, peak memory, the largest batch.

On the H200 (about 3-4 minutes by estimate; it starts no new part or trial after `--budget-s`, 270 s by default, and no
trial expected to take over `--trial-s`, so it ends within about 5.5 minutes):

    python3 bench/timesformer.py                    # writes bench/results/h200_2026-12-03/timesformer.{jsonl,md}

Locally, without a GPU, a tiny run that checks every part runs (numbers meaningless), in well under a minute:

    python3 bench/timesformer.py --cpu-smoke        # writes to <tmp>/videocls_bench_smoke/

The models are the tutorial's TimeSformer (dim 128, depth 12, 8 heads of 64, 16-pixel patches, dropout 0.1, rotary
embeddings, 101 classes): `TimeSformerModel(attention='sdpa')` (videocls's default, `SDPATimeSformer`),
`TimeSformerModel(attention='einsum')` (timesformer-pytorch's own attention) and the seed's `MyTimeSformer` (its own
class, fed a tuple of frames), imported from `bench/seed_pipeline.py` if there, else `../shared/bench/seed_pipeline.py`
beside the repository (or `--seed-pipeline`). Parts, one JSON line each as they go (`"part"` says which):

- `env`: versions, the GPU, the float32 matmul precision.
- `equal`: the two attentions on the same weights, eval mode, random clips (bs `--eq-bs`) at 128 px x 5 and 224 px x 8:
  fp32 logits (relative error `|a-b|/|a|` over the batch, and the max abs difference), fp32 gradients (the largest
  relative error over the parameters), and bf16 autocast logits of each against the fp32 einsum ones.
- `kernels`: the CUDA kernels a bf16 training step of the fused model runs (from the profiler: which SDPA backend
  the dispatcher picked), and whether each backend (flash, efficient, cudnn, math) runs it when forced.
- `rate`: compute-only training clips/s at bs `--bs`, 128 px x 5 frames: random clips already on the GPU, bf16 autocast,
  `torch.optim.AdamW(fused=True)`, `--warmup` untimed steps, then the best of `--reps` timings of `--steps` steps
  (CUDA events); `peak_gib` is `torch.cuda.max_memory_allocated` over that configuration (weights, optimiser,
  activations). For `sdpa`, `einsum`, `seed`, and `sdpa` with each SDPA backend forced.
- `maxbs`: the largest power-of-two batch that trains (two steps: the first allocates, the second is timed) at 224 px x 8
  and 224 px x 16, doubling from `--bs-start` to `--max-bs`; out-of-memory is caught and the cache emptied. A trial that
  would take longer than `--trial-s` is not started (the line says so).

Last, a markdown table of it all (`timesformer.md`); the JSON lines are in `timesformer.jsonl`.
"""
import contextlib, gc, importlib.util, json, os, platform, sys, tempfile, time
from pathlib import Path

import torch
import torch.nn.functional as F
from fastcore.script import call_parse

from videocls.models import TimeSformerModel

HERE = Path(__file__).resolve().parent
N_OUT = 101
TSF_KW = {}  # TimeSformerModel's own defaults are the tutorial's sizes; --cpu-smoke makes them tiny

def load_seed(path=None):
    "The seed tutorial's pipeline module and its path, or `(None, reason)`"
    cands = [Path(path)] if path else [HERE/'seed_pipeline.py', HERE.parents[1]/'shared'/'bench'/'seed_pipeline.py']
    for p in cands:
        if p.is_file():
            try:
                spec = importlib.util.spec_from_file_location('seed_pipeline', p)
                mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
                return mod, str(p)
            except Exception as e: return None, f'{p}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ""}'
    return None, f'not found: {", ".join(map(str, cands))}'

def make_model(kind:str, size:int, frames:int, seed_mod=None):
    "A fresh model of `kind` ('sdpa', 'einsum', 'seed') for `frames` frames of `size` px"
    if kind == 'seed': return seed_mod.tsf(N_OUT, size, frames)
    return TimeSformerModel(N_OUT, image_size=size, num_frames=frames, attention=kind, **TSF_KW)

def backend_ctx(backend:str=None):
    "A context forcing SDPA backend `backend` ('flash', 'efficient', 'cudnn', 'math'), or nothing"
    if backend is None: return contextlib.nullcontext()
    from torch.nn.attention import sdpa_kernel, SDPBackend
    b = dict(flash=SDPBackend.FLASH_ATTENTION, efficient=SDPBackend.EFFICIENT_ATTENTION, cudnn=SDPBackend.CUDNN_ATTENTION,
             math=SDPBackend.MATH)[backend]
    return sdpa_kernel([b])

def sync(dev):
    if dev.type == 'cuda': torch.cuda.synchronize()

def free(dev):
    gc.collect()
    if dev.type == 'cuda': torch.cuda.empty_cache()

def reset_peak(dev):
    if dev.type == 'cuda': torch.cuda.reset_peak_memory_stats()

def peak_gib(dev): return round(torch.cuda.max_memory_allocated() / 2**30, 3) if dev.type == 'cuda' else None

def trainer(model, bs:int, size:int, frames:int, dev, dtype, tuple_input:bool=False):
    "A training step of `model` on one random batch on `dev`: autocast `dtype`, cross-entropy, AdamW (fused on CUDA)"
    model = model.to(dev).train()
    x = torch.randn(bs, frames, 3, size, size, device=dev)  # (B, T, C, H, W)
    inp = tuple(x.unbind(1)) if tuple_input else x  # the seed's model stacks a tuple of frames itself
    y = torch.randint(0, N_OUT, (bs,), device=dev)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, **(dict(fused=True) if dev.type == 'cuda' else dict(foreach=True)))
    def step():
        with torch.autocast(dev.type, dtype=dtype, enabled=dtype is not None):
            loss = F.cross_entropy(model(inp).float(), y)
        loss.backward(); opt.step(); opt.zero_grad(set_to_none=True)
    return step

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

def is_oom(e:Exception)->bool:
    return isinstance(e, torch.OutOfMemoryError) or 'out of memory' in str(e).lower() or 'ALLOC_FAILED' in str(e)

def first_line(e:Exception)->str: return f'{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ""}'[:300]

def cuda_alive(dev)->bool:
    "Is the CUDA context still usable (no sticky error)?"
    try: sync(dev); torch.zeros(1, device=dev).add_(1); sync(dev); return True
    except Exception: return False

def rel(a, b)->float: return ((a - b).norm() / b.norm()).item()

def part_equal(dev, sizes, bs):
    "The two attentions on the same weights: fp32 logits and gradients, bf16 logits against fp32"
    for size, frames in sizes:
        torch.manual_seed(0)
        e = make_model('einsum', size, frames).to(dev).eval()
        s = make_model('sdpa', size, frames).to(dev).eval()
        s.load_state_dict(e.state_dict())
        x = torch.randn(bs, frames, 3, size, size, device=dev)
        y = torch.randint(0, N_OUT, (bs,), device=dev)
        with torch.no_grad():
            a32, s32 = e(x), s(x)
            with torch.autocast(dev.type, dtype=torch.bfloat16):
                a16, s16 = e(x).float(), s(x).float()
        grads = []
        for m in (e, s):
            m.zero_grad(); F.cross_entropy(m(x), y).backward()
            grads.append([p.grad for p in m.parameters()])
        g_rel = max(rel(gs, ge) for ge, gs in zip(*grads) if ge.norm() > 0)
        yield dict(size=size, frames=frames, bs=bs, fp32_rel=rel(s32, a32), fp32_max_abs=(s32 - a32).abs().max().item(),
                   logits_max_abs=a32.abs().max().item(), fp32_grad_rel_max=g_rel,
                   bf16_einsum_vs_fp32_rel=rel(a16, a32), bf16_sdpa_vs_fp32_rel=rel(s16, a32), bf16_sdpa_vs_bf16_einsum_rel=rel(s16, a16))
        del e, s, grads; free(dev)

def part_kernels(dev, size, frames, bs, dtype):
    "Which attention kernels the fused model's training step runs, by default and with each backend forced"
    from torch.profiler import profile, ProfilerActivity
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if dev.type == 'cuda' else [])
    step = trainer(make_model('sdpa', size, frames), bs, size, frames, dev, dtype)
    step(); sync(dev)
    with profile(activities=acts) as prof:
        step(); sync(dev)
    keys = ('flash', 'fmha', 'attention', 'cudnn', 'efficient', 'sdpa')
    names = sorted({ev.key for ev in prof.key_averages() if any(k in ev.key.lower() for k in keys)})
    yield dict(backend='default', ok=True, kernels=[n[:120] for n in names][:24])
    del step; free(dev)
    for backend in ('flash', 'efficient', 'cudnn', 'math'):
        try:
            with backend_ctx(backend):
                step = trainer(make_model('sdpa', size, frames), bs, size, frames, dev, dtype); step(); sync(dev)
            yield dict(backend=backend, ok=True)
        except Exception as e: yield dict(backend=backend, ok=False, error=first_line(e))
        step = None; free(dev)

def part_rate(kind, dev, size, frames, bs, dtype, warmup, steps, reps, seed_mod=None, backend=None):
    "Compute-only training clips/s of `kind` (best of `reps` timings of `steps` steps) and its peak memory"
    free(dev); reset_peak(dev)
    try:
        with backend_ctx(backend):
            step = trainer(make_model(kind, size, frames, seed_mod), bs, size, frames, dev, dtype, tuple_input=kind == 'seed')
            for _ in range(warmup): step()
            times = [time_steps(step, steps, dev) for _ in range(reps)]
    except Exception as e:
        return dict(ok=False, oom=is_oom(e), error=first_line(e))
    finally: step = None
    rates = [bs * steps / t for t in times]
    return dict(ok=True, clips_s=round(max(rates), 1), rates=[round(r, 1) for r in rates], step_ms=round(1000 * min(times) / steps, 2),
                peak_gib=peak_gib(dev))

def trial(kind, dev, size, frames, bs, dtype):
    "Two training steps at `bs`: `(ok, oom, error, step_s, peak_gib)`"
    free(dev); reset_peak(dev)
    r = dict(bs=bs)
    try:
        step = trainer(make_model(kind, size, frames), bs, size, frames, dev, dtype)
        step(); sync(dev)
        t = time_steps(step, 1, dev)
        r.update(ok=True, step_s=round(t, 3), clips_s=round(bs / t, 1), peak_gib=peak_gib(dev))
    except Exception as e:
        r.update(ok=False, oom=is_oom(e), error=None if is_oom(e) else first_line(e))
    step = None
    free(dev)
    return r

def table(lines)->str:
    "Markdown tables of the JSON lines"
    env = next((l for l in lines if l['part'] == 'env'), {})
    out = [f"# TimeSformer: fused (SDPA) vs einsum attention, {env.get('device', '?')}",
           '', f"torch {env.get('torch')}, timesformer-pytorch {env.get('timesformer_pytorch')}, Python {env.get('python')}, "
           f"float32 matmul precision {env.get('fp32_matmul')}; {env.get('date')}; wall {lines[-1].get('wall_s', '?')} s", '']
    eq = [l for l in lines if l['part'] == 'equal']
    if eq:
        out += ['## Same weights, same clips (eval mode)', '',
                '| clips | fp32 logits rel. err. | fp32 max abs diff (max abs logit) | fp32 grads max rel. err. | bf16 einsum vs fp32 | bf16 sdpa vs fp32 | bf16 sdpa vs bf16 einsum |',
                '|---|---|---|---|---|---|---|']
        out += [f"| {l['bs']} x {l['size']} px x {l['frames']} | {l['fp32_rel']:.2e} | {l['fp32_max_abs']:.2e} ({l['logits_max_abs']:.2f}) | "
                f"{l['fp32_grad_rel_max']:.2e} | {l['bf16_einsum_vs_fp32_rel']:.2e} | {l['bf16_sdpa_vs_fp32_rel']:.2e} | {l['bf16_sdpa_vs_bf16_einsum_rel']:.2e} |" for l in eq]
        out += ['']
    rates = [l for l in lines if l['part'] == 'rate']
    if rates:
        r0 = rates[0]
        out += [f"## Compute-only training, bs {r0['bs']}, {r0['size']} px x {r0['frames']} frames, {r0['dtype']} (autocast), AdamW (fused on CUDA)", '',
                '| model | attention | clips/s (best of reps) | all timings | ms/step | peak GiB |', '|---|---|---|---|---|---|']
        for l in rates:
            name = 'seed MyTimeSformer' if l['kind'] == 'seed' else 'TimeSformerModel'
            att = 'einsum' if l['kind'] in ('seed', 'einsum') else f"sdpa{' (' + l['backend'] + ' forced)' if l.get('backend') else ''}"
            if l['ok']: out += [f"| {name} | {att} | {l['clips_s']:,.0f} | {', '.join(f'{r:,.0f}' for r in l['rates'])} | {l['step_ms']} | {l['peak_gib'] or '-'} |"]
            else: out += [f"| {name} | {att} | {'out of memory' if l.get('oom') else 'failed: ' + str(l.get('error'))} | | | |"]
        out += ['']
    mx = [l for l in lines if l['part'] == 'maxbs_result']
    if mx:
        out += ['## Largest power-of-two batch that trains (two steps)', '',
                '| clips | attention | largest bs | ms/step there | clips/s there (one step) | peak GiB there | next | ', '|---|---|---|---|---|---|---|']
        for l in mx:
            b = l.get('best') or {}
            out += [f"| {l['size']} px x {l['frames']} | {l['kind']} | {b.get('bs', 'none')} | {b.get('step_s', 0)*1000:.0f} | "
                    f"{b.get('clips_s', '')} | {b.get('peak_gib') or '-'} | {l['stopped']} |"]
        out += ['']
    kern = [l for l in lines if l['part'] == 'kernels']
    if kern:
        out += ['## SDPA backends (fused model, one bf16 training step)', '']
        out += [f"- {l['backend']}: " + ('runs' if l['ok'] else f"fails ({l['error']})") +
                (f"; kernels seen: {', '.join('`' + k + '`' for k in l['kernels'])}" if l.get('kernels') else '') for l in kern]
        out += ['']
    seed = next((l for l in lines if l['part'] == 'seed'), None)
    if seed: out += [f"Seed model: {'from ' + seed['where'] if seed['found'] else 'not run (' + seed['where'] + ')'}", '']
    failed = [l for l in lines if l['part'] == 'equal_failed']
    if failed: out += [f"The equality part failed: {failed[0]['error']}", '']
    skipped = [l for l in lines if l['part'] == 'skipped']
    if skipped: out += ['Skipped: ' + '; '.join(f"{l['what']} ({l['why']})" for l in skipped), '']
    return '\n'.join(out)

@call_parse
def main(out:str=None,           # folder for timesformer.jsonl and timesformer.md (default: bench/results/h200_2026-12-03)
         bs:int=128,             # batch size of the throughput part
         steps:int=10,           # timed steps per timing
         reps:int=3,             # timings; the best counts
         warmup:int=3,           # untimed steps first
         eq_bs:int=4,            # clips in the equality part
         bs_start:int=8,         # first batch size of the largest-batch search
         max_bs:int=1024,        # largest batch size tried
         trial_s:float=40.,      # do not start a largest-batch trial expected to take longer (seconds)
         budget_s:float=270.,    # start no new part or trial after this many seconds
         backends:str='flash,efficient,cudnn,math', # SDPA backends to force in the throughput part ('' for none)
         seed_pipeline:str=None, # the seed tutorial's pipeline module (default: bench/seed_pipeline.py, else ../shared/bench/)
         cpu_smoke:bool=False,   # tiny sizes on the CPU: check that every part runs (numbers meaningless)
        ):
    "Fused vs einsum TimeSformer attention and the seed's model: outputs, training clips/s, peak memory, largest batch"
    t_start = time.perf_counter()
    dev = torch.device('cuda' if torch.cuda.is_available() and not cpu_smoke else 'cpu')
    if dev.type == 'cpu' and not cpu_smoke: sys.exit('no GPU: run with --cpu-smoke for a check of the script on the CPU')
    dtype = torch.bfloat16
    if cpu_smoke:  # a tiny TimeSformerModel (the seed's keeps its sizes), fp32 training (bf16 is slow on a CPU; `equal` still checks bf16)
        TSF_KW.update(dim=32, depth=1, heads=2, dim_head=16, patch_size=8)
        rate_size, eq_sizes, big, dtype = (16, 2), [(16, 2)], [(16, 2), (16, 3)], None
        bs, steps, reps, warmup, eq_bs, bs_start, max_bs = 2, 1, 2, 1, 2, 1, 4
    else:
        rate_size, eq_sizes, big = (128, 5), [(128, 5), (224, 8)], [(224, 8), (224, 16)]
        torch.backends.cudnn.benchmark = True
    out = Path(out) if out else (Path(tempfile.gettempdir())/'videocls_bench_smoke' if cpu_smoke else HERE/'results'/'h200_2026-12-03')
    out.mkdir(parents=True, exist_ok=True)
    jsonl, partial = out/'timesformer.jsonl', out/'timesformer.jsonl.partial'
    partial.unlink(missing_ok=True)
    lines = []
    def emit(**kw):
        kw['t_s'] = round(time.perf_counter() - t_start, 1)
        lines.append(kw); s = json.dumps(kw); print(s, flush=True)
        with open(partial, 'a') as f: f.write(s + '\n')
    def time_left(what)->bool:
        if time.perf_counter() - t_start < budget_s: return True
        emit(part='skipped', what=what, why=f'past --budget-s {budget_s:.0f}'); return False

    import timesformer_pytorch
    from importlib.metadata import version
    emit(part='env', torch=torch.__version__, timesformer_pytorch=version('timesformer-pytorch'), python=platform.python_version(),
         device=torch.cuda.get_device_name() if dev.type == 'cuda' else f'CPU ({os.cpu_count()} cores)',
         cuda=torch.version.cuda, fp32_matmul=torch.get_float32_matmul_precision(), date=time.strftime('%Y-%m-%d %H:%M'),
         cpu_smoke=cpu_smoke)
    seed_mod, seed_where = load_seed(seed_pipeline)
    emit(part='seed', found=seed_mod is not None, where=seed_where)

    try:
        for r in part_equal(dev, eq_sizes, eq_bs): emit(part='equal', **r)
    except Exception as e: emit(part='equal_failed', error=first_line(e))
    if time_left('kernels'):
        try:
            for r in part_kernels(dev, *rate_size, bs=2 if cpu_smoke else 8, dtype=torch.bfloat16): emit(part='kernels', **r)
        except Exception as e: emit(part='kernels', backend='default', ok=False, error=first_line(e))
    free(dev)
    kinds = [('sdpa', None), ('einsum', None)] + ([('seed', None)] if seed_mod else [])
    kinds += [('sdpa', b) for b in backends.split(',') if b]
    for kind, backend in kinds:
        if not time_left(f'rate {kind} {backend or ""}'): break
        r = part_rate(kind, dev, *rate_size, bs, dtype, warmup, steps, reps, seed_mod, backend)
        emit(part='rate', kind=kind, backend=backend, bs=bs, size=rate_size[0], frames=rate_size[1], dtype='bf16' if dtype else 'fp32', **r)
        if not cuda_alive(dev): emit(part='skipped', what='everything after', why='the CUDA context failed'); break
    # last: the largest-batch search (the one most likely to meet a kernel's limits)
    alive = cuda_alive(dev)
    for size, frames in big:
        for kind in ('sdpa', 'einsum'):
            if not alive or not time_left(f'maxbs {kind} {size}x{frames}'): continue
            best, stopped, b, prev = None, f'reached --max-bs {max_bs}', bs_start, None
            while b <= max_bs:
                if prev and 2 * 2 * prev['step_s'] > trial_s:
                    stopped = f'bs {b} not tried: would take over --trial-s {trial_s:.0f} s'; break
                if time.perf_counter() - t_start > budget_s: stopped = f'bs {b} not tried: past --budget-s'; break
                r = trial(kind, dev, size, frames, b, dtype)
                emit(part='maxbs', kind=kind, size=size, frames=frames, **r)
                if not r['ok']:
                    stopped = f"bs {b}: {'out of memory' if r.get('oom') else r.get('error')}"
                    alive = cuda_alive(dev)
                    break
                best = prev = r; b *= 2
            emit(part='maxbs_result', kind=kind, size=size, frames=frames, best=best, stopped=stopped)
    emit(part='done', wall_s=round(time.perf_counter() - t_start, 1))
    md = table(lines)
    print('\n' + md)
    tmp = out/'.partial-timesformer.md'; tmp.write_text(md + '\n'); os.replace(tmp, out/'timesformer.md')
    os.replace(partial, jsonl)
