"Data-parallel training as a user starts it: `torchrun` with two CPU processes (gloo) running `videocls-train`"
import json, os, subprocess, sys
from pathlib import Path

import pytest

from videocls.testing import make_ucf101_tree

BIN = Path(sys.executable).parent
pytestmark = pytest.mark.once  # one CI lane (pyproject.toml)

def test_two_processes_train_once_and_report_the_whole_validation_set(tmp_path):
    make_ucf101_tree(tmp_path/'videos', classes=('A', 'B', 'C'), groups=(1, 2, 3, 4), clips_per_group=2, n_frames=8, size=(32, 32))
    r = subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2', '--standalone', str(BIN/'videocls-train'), tmp_path/'videos',
                        '--models', 'simple', '--epochs', '2', '--bs', '2', '--image-size', '32', '--seq-len', '4',
                        '--valid-groups', '4', '--n-workers', '1', '--out', tmp_path/'run'],
                       capture_output=True, text=True, timeout=600, env={**os.environ, 'OMP_NUM_THREADS': '1', 'CUDA_VISIBLE_DEVICES': ''})  # CPU processes (gloo), also on a GPU machine
    assert r.returncode == 0, r.stderr[-3000:]
    assert 'data-parallel: 2 processes (gloo), 2 clips per batch in each' in r.stdout, r.stdout
    for once in ('converted 24 clips', '== simple: 18 training and 6 validation clips', 'written to'):
        assert r.stdout.count(once) == 1, (once, r.stdout)   # the main process alone builds, prints and writes
    res = json.loads((tmp_path/'run/metrics.json').read_text())
    assert len(res) == 1 and res[0]['processes'] == 2 and len(res[0]['history']) == 2
    # the metrics recorded during the data-parallel fit (each process validated its half) are those of the whole
    # validation set: the main process's one-process validation of the final model gives the same numbers
    last = res[0]['history'][-1]
    assert abs(last['valid_loss'] - res[0]['valid_loss']) < 1e-5 * res[0]['valid_loss'], (last, res[0]['valid_loss'])
    assert abs(last['accuracy'] - res[0]['accuracy']) < 1e-6, (last, res[0]['accuracy'])
    assert sorted(p.name for p in (tmp_path/'run').iterdir()) == ['metrics.json', 'simple-confusion.png', 'simple-results.png', 'simple.pkl']
