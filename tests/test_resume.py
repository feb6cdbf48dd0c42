"""Faults during training: a `videocls-train` killed (SIGKILL) mid-run resumes with `--resume` and ends as an uninterrupted
run; a full disk or a folder that cannot be written during a checkpoint or an export stops with a clear message and
keeps what was complete; `fine_tune`'s whole history and `--fold all` on real (PyAV-written) clips"""
import errno, json, os, re, shutil, signal, subprocess, sys, tempfile, time
from pathlib import Path

import numpy as np
import pytest, torch
import fastai.callback.schedule  # Learner.fit_one_cycle
from fastai.callback.core import Callback
from fastai.torch_core import set_seed, defaults

from videocls.testing import make_ucf101_tree
from videocls.data.synthetic import make_synthetic_videos
from videocls.data.store import make_store
from videocls.data.ucf101 import ucf101_group
from videocls.data.core import get_action_dataloaders
from videocls.learner import video_learner
from videocls.split import BadArgument
from videocls.checkpoint import Checkpoint, SaveError, latest_checkpoint
from videocls.evaluate import evaluate_and_save
from videocls.train import TrainRecipe, train_videos, check_resume

BIN = Path(sys.executable).parent
ENV = {**os.environ, 'OMP_NUM_THREADS': '1', 'VIDEOCLS_DEBUG': '', 'CUDA_VISIBLE_DEVICES': ''}

pytestmark = pytest.mark.usefixtures('one_thread')  # tests/conftest.py

@pytest.fixture(scope='module')
def store(tmp_path_factory):
    "A clip store of four classes of the built-in dataset: 5 groups of 2 clips, 8 frames of 32x32"
    p = tmp_path_factory.mktemp('resume')
    make_synthetic_videos(p/'videos', n_groups=5, clips_per_group=2, n_frames=8, size=(32, 32), classes=['MoveLeft', 'MoveRight', 'Blink', 'Still'])
    return make_store(p/'videos', p/'store', min_size=32, n_workers=1, progress=False, group_fn=ucf101_group).path

RECIPE = dict(epochs=4, bs=4, image_size=32, seq_len=4, arch='test_resnet', n_workers=0, test_clips=1, checkpoint_every=1)  # fastai's own loader loop
ARGS = [a for k, v in RECIPE.items() for a in (f"--{k.replace('_', '-')}", v)]

def epoch_rows(log:str)->list:
    "The epoch numbers of the rows of the epoch tables in `log`"
    return [int(m.group(1)) for m in re.finditer(r'^ +(\d+) +\d+\.\d{4} ', log, re.M)]

def test_killed_run_resumes_after_its_last_checkpoint(tmp_path, store, capsys, monkeypatch):
    "`videocls-train` killed (SIGKILL) once a checkpoint is written; resumed, it prints only the epochs left, and the history and final loss are the uninterrupted run's"
    monkeypatch.setattr(defaults, 'use_cuda', False)  # this process trains on the CPU too, as the killed one (ENV): bit for bit on a GPU machine as well
    out = tmp_path/'run'
    p = subprocess.Popen([BIN/'videocls-train', store, '--models', 'simple', '--out', out, *map(str, ARGS)],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV)
    ref = train_videos(store, models=('simple',), out=tmp_path/'ref', progress=False, **RECIPE)[0]  # meanwhile, uninterrupted (one thread)
    while latest_checkpoint(out/'checkpoints/simple') is None and p.poll() is None: time.sleep(0.01)
    p.send_signal(signal.SIGKILL)
    killed = p.communicate()[0]
    assert p.returncode == -signal.SIGKILL, killed
    k = int(latest_checkpoint(out/'checkpoints/simple').name[6:])
    assert k < 3 and not (out/'simple.pkl').exists(), (k, killed)
    assert epoch_rows(killed) == list(range(len(epoch_rows(killed)))) and len(epoch_rows(killed)) >= k + 1
    # the same command again would lose the saved epochs: refused, saying what to pass; other options: refused, naming them
    with pytest.raises(BadArgument, match=rf'{out} holds an interrupted run \(simple: {k + 1} of 4 epochs\): pass resume=True'):
        check_resume(out, store, ['simple'], TrainRecipe(**RECIPE))
    with pytest.raises(BadArgument, match='its interrupted run was started with epochs=4, now 7'):
        check_resume(out, store, ['simple'], TrainRecipe(**{**RECIPE, 'epochs': 7}), resume=True)
    capsys.readouterr()
    train_videos(store, models=('simple',), out=out, progress=False, resume=True, **RECIPE)  # what `videocls-train ... --resume` runs
    log = capsys.readouterr().out
    assert f'resuming from {out}/checkpoints/simple/epoch-{k:03d}: epoch' in log and '\r' not in log
    assert epoch_rows(log) == list(range(k + 1, 4)), log   # only the epochs left
    m = json.loads((out/'metrics.json').read_text())[0]
    assert m['resumed_after_epoch'] == k and [h['epoch'] for h in m['history']] == list(range(4))
    assert m['history'] == ref['history'], (m['history'], ref['history'])   # every loss and accuracy, bit for bit
    assert m['valid_loss'] == ref['valid_loss'] and m['per_class'] == ref['per_class']
    assert sorted(p.name for p in out.iterdir()) == ['metrics.json', 'simple-confusion.png', 'simple-results.png', 'simple.pkl']

# A full disk and a folder that cannot be written, for real: a small file system of its own (tmpfs, which needs the
# right to mount: root, as in CI here; elsewhere the disk-full tests are skipped), and a folder this process may not
# write in (root writes anywhere: it takes the id of user nobody for the write; another user removes the folder's
# write permission)

@pytest.fixture
def open_dir():
    "A fresh folder any user may enter (pytest's are the owner's only)"
    base = Path(tempfile.mkdtemp())
    base.chmod(0o755)
    try: yield base
    finally: shutil.rmtree(base, ignore_errors=True)

@pytest.fixture
def small_fs(open_dir):
    "A tmpfs of 64 MB, to be filled"
    fs = open_dir/'fs'
    fs.mkdir()
    r = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=64m', 'tmpfs', str(fs)], capture_output=True, text=True)
    if r.returncode: pytest.skip(f'cannot mount a tmpfs here ({r.stderr.strip()}): a full disk needs a small file system of its own')
    try: yield fs
    finally: subprocess.run(['umount', '-l', str(fs)], check=True)

def fill(fs:Path):
    "Write zeros into `fs` until it is full"
    with open(fs/'filler', 'wb', buffering=0) as f:
        try:
            while True: f.write(bytes(1 << 20))
        except OSError as e: assert e.errno == errno.ENOSPC

def deny(folder:Path):
    "From now on this process cannot write in `folder` (as user nobody if root, else without the folder's write permission)"
    if os.geteuid() == 0: os.seteuid(65534)
    else: folder.chmod(0o555)

def allow(folder:Path):
    if os.getuid() == 0: os.seteuid(0)
    else: folder.chmod(0o755)

class After(Callback):
    "Call `f` right after the checkpoint of epoch `epoch` is written"
    order = Checkpoint.order + 1
    def __init__(self, epoch, f): self.at, self.f = epoch, f
    def after_epoch(self):
        if self.epoch == self.at: self.f()

@pytest.fixture(scope='module')
def clips():
    "A tiny clip store any user may read (training goes on as another user in `test_no_permission_during_a_checkpoint`)"
    p = Path(tempfile.mkdtemp())
    p.chmod(0o755)
    make_ucf101_tree(p/'videos', groups=(1, 2, 3), clips_per_group=2, n_frames=8, size=(48, 32))
    try: yield make_store(p/'videos', p/'store', min_size=24, n_workers=1, progress=False, group_fn=ucf101_group)
    finally: shutil.rmtree(p, ignore_errors=True)

def learner(store, seed=0):
    set_seed(seed)
    dls = get_action_dataloaders(store, bs=4, image_size=32, seq_len=4, mode='uniform', num_workers=0,
                                 val_idxs=[i for i, c in enumerate(store.clips) if c.group == 3])
    return video_learner(dls, 'simple', arch='test_resnet', precision='fp32')

def test_disk_full_during_a_checkpoint_keeps_the_one_before(small_fs, clips):
    learn, ck = learner(clips), Checkpoint(small_fs/'ck')
    with pytest.raises(SaveError) as e, learn.no_bar(), learn.no_logging(): learn.fit(2, 1e-3, cbs=[ck, After(0, lambda: fill(small_fs))])
    assert e.value.errno == errno.ENOSPC
    msg = str(e.value)
    assert msg.startswith(f'{small_fs}/ck/.partial-epoch-001: no space left on the device while saving the checkpoint of epoch 1 (0.0 MB free, '
                          'it needs about '), msg
    assert msg.endswith(f'): free some space, or write elsewhere; then resume: the checkpoint of the epoch before ({small_fs}/ck/epoch-000) is intact'), msg
    assert [p.name for p in (small_fs/'ck').iterdir()] == ['epoch-000']   # nothing half-written left
    (small_fs/'filler').unlink()
    again, ck2 = learner(clips, seed=1), Checkpoint(small_fs/'ck', resume=True, verbose=False)
    with again.no_bar(), again.no_logging(): again.fit(2, 1e-3, cbs=ck2)  # the kept checkpoint resumes
    assert [h['epoch'] for h in ck2.history] == [0, 1] and ck2.history[0] == ck.history[0]
    assert [p.name for p in (small_fs/'ck').iterdir()] == ['epoch-001']

def test_no_permission_during_a_checkpoint(open_dir, clips):
    ck = open_dir/'ck'
    learn = learner(clips)
    try:
        with pytest.raises(SaveError) as e, learn.no_bar(), learn.no_logging():
            learn.fit(2, 1e-3, cbs=[Checkpoint(ck), After(0, lambda: deny(ck))])
    finally: allow(ck)
    assert e.value.errno == errno.EACCES and str(e.value) == (
        f'{ck}/.partial-epoch-001: cannot write there while saving the checkpoint of epoch 1 (Permission denied): pick a folder '
        f'you can write to, or make this one writable; then resume: the checkpoint of the epoch before ({ck}/epoch-000) is intact')
    assert [p.name for p in ck.iterdir()] == ['epoch-000']

def test_export_on_a_full_disk_or_without_permission_leaves_the_old_file(small_fs, clips):
    "`evaluate_and_save` exports first; when that cannot be written, the `.pkl` already there is as it was and the learner still works"
    learn = learner(clips)
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)
    (small_fs/'out').mkdir()
    (small_fs/'out/simple.pkl').write_bytes(b'the old one')
    fill(small_fs)
    with pytest.raises(SaveError) as e: evaluate_and_save(learn, 'simple', small_fs/'out', test_clips=1)
    assert e.value.errno == errno.ENOSPC and str(e.value).startswith(
        f'{small_fs}/out/simple.pkl: no space left on the device while exporting the learner ('), str(e.value)
    assert str(e.value).endswith('): free some space, or write elsewhere; nothing was written (simple.pkl is as it was)')
    assert sorted(p.name for p in (small_fs/'out').iterdir()) == ['simple.pkl'] and (small_fs/'out/simple.pkl').read_bytes() == b'the old one'
    deny(small_fs/'out')
    try:
        with pytest.raises(SaveError, match=r'out/simple.pkl: cannot write there while exporting the learner \(Permission denied\)'):
            evaluate_and_save(learn, 'simple', small_fs/'out', test_clips=1)
    finally: allow(small_fs/'out')
    (small_fs/'filler').unlink()
    res = evaluate_and_save(learn, 'simple', small_fs/'out', test_clips=1)   # the learner kept its data: it exports and evaluates
    assert 0 <= res['accuracy'] <= 1 and (small_fs/'out/simple.pkl').stat().st_size > 1000

def test_fold_all_with_fine_tune_history(tmp_path, capsys):
    "UCF101's three official splits on UCF101-named clips: each trained and evaluated, with mean and std; fine_tune's frozen epoch in the history"
    import timm
    make_ucf101_tree(tmp_path/'v', classes=('A', 'B'), groups=(1, 2, 8, 15, 22), clips_per_group=1, n_frames=8, size=(32, 32))  # fold 1: more in validation
    torch.save(timm.create_model('test_resnet', pretrained=False).state_dict(), tmp_path/'w.pth')
    res = train_videos(tmp_path/'v', models=('simple',), out=tmp_path/'o', fold='all', weights=tmp_path/'w.pth', epochs=1, freeze_epochs=1,
                       bs=2, image_size=32, seq_len=4, arch='test_resnet', n_workers=0, test_clips=1, progress=False)
    log = capsys.readouterr().out
    assert len(res) == 1 and [f['fold'] for f in res[0]['folds']] == [1, 2, 3] and res[0]['fold'] == 'all'
    for f, g in zip(res[0]['folds'], (1, 8, 15)):
        assert f['split'] == f'official UCF101 fold {f["fold"]} (groups {g}-{g + 6} in validation)'
        assert [(h['epoch'], h['frozen']) for h in f['history']] == [(0, True), (1, False)]   # both fits of fine_tune
        assert f['mean_class_accuracy'] == np.mean(list(f['per_class'].values()))
    losses = [f['valid_loss'] for f in res[0]['folds']]
    assert res[0]['valid_loss'] == np.mean(losses) and res[0]['valid_loss_std'] == pytest.approx(np.std(losses, ddof=1)) and losses[0] != losses[1]
    assert res[0]['accuracy'] == np.mean([f['accuracy'] for f in res[0]['folds']])
    assert json.loads((tmp_path/'o/metrics.json').read_text()) == json.loads(json.dumps(res))
    assert sorted(p.name for p in (tmp_path/'o').iterdir()) == ['fold1', 'fold2', 'fold3', 'metrics.json']
    assert sorted(p.name for p in (tmp_path/'o/fold2').iterdir()) == ['simple-confusion.png', 'simple-results.png', 'simple.pkl']
    for line in ('simple fold 1', 'simple fold 3', 'simple mean', 'simple std', 'mean and std (n-1) over the folds',
                 'split: official UCF101 fold 2 (groups 8-14 in validation): 8 training and 2 validation clips'):
        assert line in log, (line, log)
    assert f"{'simple mean':<13} {res[0]['accuracy']:>6.1%}" in log and '\r' not in log
    assert [int(l.split()[0]) for l in log.splitlines() if re.match(r' +\d+ +\d+\.\d{4} ', l)] == [0, 1] * 3   # numbered over both fits
