"The frame-prediction command line and GPU bench script, end to end in subprocesses (tiny sizes, on the CPU); its bad input in this process"
import json, os, subprocess, sys
from pathlib import Path

import pytest, torch

ROOT = Path(__file__).parents[1]
pytestmark = pytest.mark.once  # one CI lane (pyproject.toml)
ENV = {**os.environ, 'OMP_NUM_THREADS': '1', 'MPLBACKEND': 'Agg'}  # 1 thread: see the notebook's note on busy 2-core boxes
TINY = ['--bs', '4', '--nf', '4', '--size', '32', '--digit-size', '14', '--n-past', '3', '--n-future', '2',
        '--n-valid', '4', '--device', 'cpu']

def run(*args):
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, env=ENV, timeout=300)

@pytest.fixture
def cli(tmp_path):
    "A script that calls `frame_prediction_cli` the way a console-script entry point does"
    f = tmp_path/'videocls-frame-prediction'
    f.write_text('import sys\nfrom videocls.frame_prediction import frame_prediction_cli\n'
                 'if __name__ == "__main__": sys.exit(frame_prediction_cli())\n')
    return f

def test_help_is_informative(cli):
    r = run(cli, '--help')
    assert r.returncode == 0, r.stderr
    for s in ['--epochs', '--lr', '--bs', '--n-train', '--n-valid', '--nf', '--no-fp16', '--out',
              'held-out sequences', 'hidden channels of the ConvLSTM cells', 'metrics.json']:
        assert s in r.stdout, s

def test_cli_tiny_run_writes_model_picture_metrics(cli, tmp_path):
    out = tmp_path/'run'
    r = run(cli, *TINY, '--epochs', '1', '--n-train', '8', '--out', out)
    assert r.returncode == 0, r.stderr
    assert 'held-out MSE' in r.stdout and 'copy-last MSE' in r.stdout
    assert sorted(f.name for f in out.iterdir()) == ['export.pkl', 'metrics.json', 'prediction.png']
    m = json.loads((out/'metrics.json').read_text())
    assert m['settings']['n_train'] == 8 and m['settings']['fp16'] is False
    assert 0 < m['mse'] < 1 and 0 < m['copy_last_mse'] < 1 and 0 < m['blank_mse'] < 1
    assert abs(m['mse_vs_copy_last'] - m['mse'] / m['copy_last_mse']) < 1e-4
    assert (out/'prediction.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    from fastai.learner import load_learner
    learn = load_learner(out/'export.pkl', cpu=True)
    with torch.no_grad(): pred = learn.model(torch.rand(2, 3, 1, 32, 32), future_seq=5)
    assert pred.shape == (2, 1, 5, 32, 32)

def test_cli_bad_input_says_what_to_do(tmp_path):
    "In this process, the function the console script calls: a `CliError`, which the script prints (no traceback) and exits 1 with"
    from fastcore.script import CliError
    from videocls.frame_prediction import frame_prediction_cli
    with pytest.raises(CliError) as e: frame_prediction_cli(n_train=2, bs=4, out=str(tmp_path/'bad'), device='cpu')
    assert 'nothing to train' in str(e.value) and 'n_train >= bs' in str(e.value)
    with pytest.raises(CliError, match='digit_size=32 must be smaller than size=32'):
        frame_prediction_cli(size=32, digit_size=32, out=str(tmp_path/'bad'), device='cpu')
    assert not (tmp_path/'bad').exists()

def test_gpu_bench_script_tiny_cpu_run(tmp_path):
    out = tmp_path/'bench'
    r = run(ROOT/'bench'/'gpu_frame_prediction.py', *TINY, '--minutes', '0.02', '--epochs', '1', '--probe-steps', '2',
            '--out', out)
    assert r.returncode == 0, r.stderr
    assert 'probe:' in r.stdout and 'copy-last' in r.stdout and 'beats copy-last' in r.stdout
    m = json.loads((out/'metrics.json').read_text())
    assert m['probe_ms_per_step'] > 0 and m['settings']['n_train'] >= 4
    assert (out/'prediction.png').exists() and (out/'export.pkl').exists()
