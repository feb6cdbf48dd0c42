#!/usr/bin/env python
"""Run every notebook in `nbs/`, each in its own process with a time limit, a few at a time; print each one's wall time.

    python tests/notebooks.py                 # nbdev-test (flagged cells skipped), then "Run All" of those with flagged cells
    python tests/notebooks.py --only nbdev    # one of the two passes
    python tests/notebooks.py nbs/50_train.ipynb --limit 300

One notebook per process: on Python 3.12 a process that forks after *another* of its threads converted frames with
PyAV 19 can hang (see `videocls.data.build`), and `nbdev-test` would otherwise run several notebooks in threads of one
process. A notebook that runs past `--limit` seconds is killed, named, and counts as failed, so a hang costs minutes, not
the whole CI run. The "Run All" pass (nbconvert) executes every cell, flagged ones included, as a Jupyter user does (GPU
cells check for a GPU and say so when there is none); by default it runs only the notebooks that hold flagged cells, the
only cells the nbdev pass left out (`--run-all-every` runs it on every notebook).
"""
import argparse, os, shutil, subprocess, sys, tempfile, time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

BIN = Path(sys.executable).parent  # nbdev-test and jupyter beside the Python that runs this

def tool(name:str)->str: return str(BIN/name) if (BIN/name).exists() else shutil.which(name) or name

def commands(nb:Path, out:str, flags:str='')->dict:
    return {'nbdev': [tool('nbdev-test'), str(nb)] + (['--flags', flags] if flags else []),
            'run-all': [tool('jupyter'), 'nbconvert', '--execute', '--to', 'notebook', '--output-dir', out,
                        '--ExecutePreprocessor.timeout=-1', str(nb)]}

def flagged(nb:Path)->bool:
    "Does notebook `nb` hold cells that `nbdev-test` skips (flags of pyproject.toml's `tst_flags`)?"
    return any(f'#| {f}' in nb.read_text() for f in ('slow', 'cuda', 'data'))

def run_one(cmd:list, limit:float)->tuple:
    "`(status, seconds, output tail)` of `cmd`, killed (with its children) past `limit` seconds"
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = p.communicate(timeout=limit)
        status = 'ok' if p.returncode == 0 else f'FAILED (exit {p.returncode})'
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, 9)
        out, _ = p.communicate()
        status = f'TIMED OUT after {limit:.0f} s'
    return status, time.monotonic() - t0, out[-3000:]

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('notebooks', nargs='*', help='notebooks to run (default: nbs/*.ipynb)')
    ap.add_argument('--only', choices=['nbdev', 'run-all'], help='run one pass only')
    ap.add_argument('--limit', type=float, default=900, help='seconds a notebook may take in one pass')
    ap.add_argument('--jobs', type=int, default=2, help='notebooks at a time')
    ap.add_argument('--flags', default='', help="nbdev-test's --flags: flagged cells to run too, e.g. 'cuda' on a GPU")
    ap.add_argument('--skip', nargs='*', default=[], help='notebook names to leave out (the GPU lane: those needing what it lacks)')
    ap.add_argument('--run-all-every', action='store_true', help='the "Run All" pass on every notebook, not only those with flagged cells')
    a = ap.parse_args()
    nbs = [Path(o) for o in a.notebooks] or sorted(Path(__file__).parent.parent.glob('nbs/*.ipynb'))
    nbs = [nb for nb in nbs if nb.name not in a.skip and nb.stem not in a.skip]
    out = tempfile.mkdtemp()
    failed, t_all = [], time.monotonic()
    for kind in [a.only] if a.only else ['nbdev', 'run-all']:
        t0 = time.monotonic()
        todo = nbs if kind == 'nbdev' or a.only or a.run_all_every or a.notebooks else [nb for nb in nbs if flagged(nb)]
        with ThreadPoolExecutor(a.jobs) as ex:
            futs = {nb: ex.submit(run_one, commands(nb, out, a.flags)[kind], a.limit) for nb in todo}
            for nb, f in futs.items():
                status, secs, tail = f.result()
                print(f'{kind:>8} {secs:6.0f} s  {status:<24} {nb.name}', flush=True)
                if status != 'ok':
                    failed.append(f'{kind} {nb.name}: {status}')
                    print('    ' + tail.replace('\n', '\n    '), flush=True)
        print(f'{kind:>8} {time.monotonic() - t0:6.0f} s  all {len(todo)} notebooks', flush=True)
    print(f'notebooks: {len(failed)} failed' + ''.join(f'\n  {o}' for o in failed) + f' ({time.monotonic() - t_all:.0f} s)')
    sys.exit(1 if failed else 0)

if __name__ == '__main__': main()
