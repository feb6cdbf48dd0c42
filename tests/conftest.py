"Shared test helpers"
import os
import pytest

def pytest_runtest_logreport(report):
    "With VIDEOCLS_FAILURES=<file> (the GPU lane): each failure's traceback appended there as it happens, so a run its time limit cuts short still shows them"
    fname = os.environ.get('VIDEOCLS_FAILURES')
    if fname and report.failed and 'PYTEST_XDIST_WORKER' not in os.environ:  # once: in the process that collects xdist's reports
        with open(fname, 'a') as f: f.write(f'=== {report.nodeid} ({report.when}, {report.duration:.0f} s)\n{report.longreprtext}\n\n')

def _tiny_store_learner(tmp, classes=('ApplyEyeMakeup', 'Basketball')):
    "`(learner, store)`: a tiny clip-store learner ('uniform', 4 frames of 32x32) trained on a UCF101-shaped tree made in `tmp`"
    from fastai.torch_core import set_seed
    import fastai.callback.schedule  # Learner.fit_one_cycle
    from videocls.testing import make_ucf101_tree
    from videocls.data.store import make_store
    from videocls.data.ucf101 import ucf101_group
    from videocls.data.core import get_action_dataloaders
    from videocls.learner import video_learner
    make_ucf101_tree(tmp/'videos', classes=classes, groups=(1, 2, 3), clips_per_group=2, n_frames=12, size=(64, 48))
    store = make_store(tmp/'videos', tmp/'store', min_size=24, n_workers=1, progress=False, group_fn=ucf101_group)
    set_seed(0)   # before the loaders: each draws its own random generator when made
    dls = get_action_dataloaders(store, bs=4, image_size=32, seq_len=4, mode='uniform',
                                 val_idxs=[i for i, c in enumerate(store.clips) if c.group == 3], num_workers=0)
    learn = video_learner(dls, 'simple', arch='test_resnet', precision='fp32')
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(3, 1e-2)
    return learn, store

@pytest.fixture(scope='session')
def tiny_store_learner():
    "`tiny_store_learner(tmp, classes=...)` -> `(learner, store)`: see `_tiny_store_learner`"
    return _tiny_store_learner

@pytest.fixture(scope='module')
def one_thread():
    "One torch thread for a test module (its subprocesses get OMP_NUM_THREADS=1): the same sums in the same order as theirs, and on two shared cores tiny models run many times faster (2 intra-op threads wait on each other at every small op)"
    import torch
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
