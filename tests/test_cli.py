"The command line as a user meets it: each bad input ends with a message naming the problem and a non-zero exit, no traceback"
import os, shutil, subprocess, sys
from pathlib import Path
from types import SimpleNamespace
from unittest.mock import patch

import pytest, torch
from fastcore.script import CliError
from videocls.testing import make_ucf101_tree, write_clip
from videocls.cli import extract, train, predict

BIN = Path(sys.executable).parent

def run(*args, cwd=None):
    r = subprocess.run([str(BIN/args[0]), *map(str, args[1:])], capture_output=True, cwd=cwd,
                       env={**os.environ, 'VIDEOCLS_DEBUG': ''}, timeout=600)
    r.stdout, r.stderr = r.stdout.decode(), r.stderr.decode()  # as written: text=True would turn a progress bar's '\r' into '\n'
    assert 'Traceback' not in r.stderr, r.stderr
    return r

def call(f, *args, capsys, **kwargs):
    """Command `f` (`extract`, `train`, `predict`) in this process, as its console script runs it (fastcore's `call_parse`
    turns a `CliError` into its message on stderr and exit status 1); `.returncode`, `.stdout`, `.stderr` as `run` gives them.
    For the error cases: a fresh process for each would spend most of its time importing (the entry points are run above and below)"""
    capsys.readouterr()
    try:
        with patch.dict(os.environ, {'VIDEOCLS_DEBUG': ''}): f(*map(str, args), **kwargs)  # as `run`: errors as a user sees them
        code, msg = 0, ''
    except SystemExit as e: code, msg = e.code, ''
    except CliError as e: code, msg = 1, str(e)
    out = capsys.readouterr()
    return SimpleNamespace(returncode=code, stdout=out.out, stderr=out.err + msg)

def check_fails(r, *fragments):
    assert r.returncode != 0, r.stdout
    for f in fragments: assert f in r.stderr + r.stdout, (f, r.stderr, r.stdout)

@pytest.fixture(scope='module')
def one_class(tmp_path_factory):
    p = tmp_path_factory.mktemp('one')
    make_ucf101_tree(p/'videos', classes=('Jump',), groups=(1, 2), clips_per_group=1, n_frames=6, size=(32, 32))
    return p

def test_extract_missing_and_empty(tmp_path, capsys):
    check_fails(call(extract, tmp_path/'nope', tmp_path/'f', capsys=capsys), f'{tmp_path}/nope: no such file or folder')
    (tmp_path/'empty').mkdir()
    check_fails(call(extract, tmp_path/'empty', tmp_path/'f', capsys=capsys), f'{tmp_path}/empty: holds neither videos')
    (tmp_path/'x.zip').write_text('zip')
    check_fails(call(extract, tmp_path/'x.zip', tmp_path/'f', capsys=capsys), 'x.zip: expected a .rar archive')

@pytest.mark.parametrize('frames', [False, pytest.param(True, marks=pytest.mark.once)])  # the store on every Python
def test_extract_reports_bad_clip_and_converts_the_rest(tmp_path, frames):
    "A clip store (the default) or a frames tree (--frames): the bad clip is named, the others converted, a re-run skips them"
    make_ucf101_tree(tmp_path/'v', groups=(1,), clips_per_group=2, n_frames=5, size=(32, 32))
    (tmp_path/'v/Basketball/v_Basketball_g02_c01.avi').write_bytes(b'garbage' * 100)
    flag = ['--frames'] if frames else []
    r = run('videocls-extract', tmp_path/'v', tmp_path/'f', '--n-workers', 2, *flag)
    assert r.returncode == 0, r.stderr
    assert 'converted 4 clips' in r.stdout and 'failed 1' in r.stdout and 'v_Basketball_g02_c01.avi: VideoError' in r.stdout
    assert (f'frames tree: {tmp_path}/f' if frames else f'clip store: ClipStore({tmp_path}/f: 4 clips, 2 classes)') in r.stdout
    assert (tmp_path/'f/ApplyEyeMakeup').is_dir() and (tmp_path/'f/manifest.json').exists() != frames
    r = run('videocls-extract', tmp_path/'v', tmp_path/'f', *flag)
    assert 'converted 0 clips' in r.stdout and 'skipped 4' in r.stdout

def check_usage(r, *fragments):
    "A bad argument: exit status 2, as argparse gives, and the message"
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    check_fails(r, *fragments)

def test_train_bad_inputs(tmp_path, one_class, capsys):
    check_usage(call(train, tmp_path/'nope', capsys=capsys), f'{tmp_path}/nope: no such file or folder')
    (tmp_path/'empty').mkdir()
    check_fails(call(train, tmp_path/'empty', capsys=capsys), 'empty: holds neither videos')
    check_fails(call(train, one_class/'videos', out=str(tmp_path/'o'), capsys=capsys), 'only 1 class folder(s) with clips')
    check_usage(call(train, models='simple,c3d', capsys=capsys), "unknown model(s) ['c3d']")
    check_usage(call(train, flip=True, no_flip=True, capsys=capsys), '--flip and --no-flip contradict each other')
    check_usage(call(train, valid_groups='three', capsys=capsys), '--valid-groups takes group numbers separated by commas')

@pytest.fixture(scope='module')
def videos(tmp_path_factory):
    "Four classes of the built-in dataset, small: 5 groups of 2 clips, 8 frames of 32x32"
    from videocls.data.synthetic import make_synthetic_videos
    p = tmp_path_factory.mktemp('syn')/'videos'
    make_synthetic_videos(p, n_groups=5, clips_per_group=2, n_frames=8, size=(32, 32), classes=['MoveLeft', 'MoveRight', 'Blink', 'Still'])
    return p

@pytest.mark.parametrize('args, said', [
    ({'fold': '4'}, 'fold 4: UCF101 has official folds 1, 2 and 3'),
    ({'test_crops': 2}, 'test_crops=2: pass 1 (centre) or 3'),
    ({'models': 'timesformer', 'image_size': 72}, 'not a multiple of patch_size=16'),
    ({'weights': 'no-such.pth'}, 'no-such.pth: no such weights file')])
def test_train_refuses_bad_arguments_before_building_anything(tmp_path, videos, args, said, capsys):
    r = call(train, videos, out=str(tmp_path/'o'), **args, capsys=capsys)
    check_usage(r, said)
    assert not (videos.parent/'videos-store').exists() and not (tmp_path/'o').exists(), 'something was built before the check'

@pytest.mark.once
def test_train_says_which_split_and_what_to_pass(tmp_path):
    "A partial UCF101 (groups 1-7 and one in 23): fold 1 leaves too little to train; the message says so and what to pass; the store is kept"
    classes = [f'C{i:02d}' for i in range(5)]
    make_ucf101_tree(tmp_path/'v', classes=classes, groups=(1, 2, 3), clips_per_group=1, n_frames=6, size=(32, 32))
    make_ucf101_tree(tmp_path/'v', classes=classes[:1], groups=(23,), clips_per_group=1, n_frames=6, size=(32, 32))
    r = run('videocls-train', tmp_path/'v', '--out', tmp_path/'o', '--bs', 4)
    check_usage(r, 'split: official UCF101 fold 1 (groups 1-7 in validation): 1 training and 15 validation clips (1 and 5 of 5 classes)',
                'only 1 training clips for a batch size of 4', '--valid-pct 0.2')
    assert (tmp_path/'v-store/manifest.json').is_file()   # the store built before the split was judged is kept...
    r = run('videocls-train', tmp_path/'v', '--out', tmp_path/'o', '--bs', 4)
    assert 'converted 0 clips (0 frames), skipped 16 already complete' in r.stdout, r.stdout   # ...and reused

@pytest.mark.once
def test_two_videos_of_one_name_are_refused_naming_both(tmp_path):
    "`x.avi` and `x.mp4` would make one clip file: nothing is written, both are named"
    make_ucf101_tree(tmp_path/'v', groups=(1,), clips_per_group=2, n_frames=5, size=(32, 32))
    avi = tmp_path/'v/Basketball/v_Basketball_g01_c02.avi'
    shutil.copy(avi, avi.with_suffix('.mp4'))   # the same video in another container name
    (tmp_path/'v/Archery').mkdir()
    r = run('videocls-extract', tmp_path/'v', tmp_path/'store')
    check_fails(r, f'{avi} and {avi.with_suffix(".mp4")} would both be stored as {tmp_path}/store/Basketball/v_Basketball_g01_c02.clip',
                'rename one of them')
    assert not (tmp_path/'store').exists()
    avi.with_suffix('.mp4').rename(tmp_path/'v/Basketball/v_Basketball_g01_c03.mp4')
    r = run('videocls-extract', tmp_path/'v', tmp_path/'store')
    assert r.returncode == 0, r.stderr
    assert 'converted 5 clips' in r.stdout and f'left out: {tmp_path}/v/Archery: a folder without videos' in r.stdout, r.stdout

@pytest.mark.once
def test_weights_fine_tune_and_lr_find(tmp_path, videos):
    "A local encoder state_dict (saved from timm here) fine-tunes end to end; --lr-find picks the rate, says it and records it"
    import json, timm
    torch.save(timm.create_model('test_resnet', pretrained=False).state_dict(), tmp_path/'test_resnet.pth')
    torch.save(timm.create_model('resnet34', pretrained=False).state_dict(), tmp_path/'resnet34.pth')
    check_usage(run('videocls-train', videos, '--out', tmp_path/'x', '--arch', 'resnet18', '--weights', tmp_path/'resnet34.pth'),
                'resnet34.pth does not fit')
    r = run('videocls-train', videos, '--out', tmp_path/'o', '--models', 'simple', '--arch', 'test_resnet', '--weights', tmp_path/'test_resnet.pth',
            '--lr-find', '--epochs', 1, '--bs', 4, '--image-size', 32, '--seq-len', 4, '--n-workers', 1, '--test-clips', 1)
    assert r.returncode == 0, r.stderr
    m = json.loads((tmp_path/'o/metrics.json').read_text())[0]
    assert (m['recipe'], m['arch'], m['epochs']) == ('fine_tune', 'test_resnet', 1), m
    assert f"lr_find: {m['lr']:.2e} (the valley of the loss curve), training with it" in r.stdout, r.stdout
    assert 0 < m['lr'] < 1 and [(h['epoch'], h['frozen']) for h in m['history']] == [(0, True), (1, False)], m   # both fits of fine_tune
    assert '\r' not in r.stdout + r.stderr   # a log, not a terminal: no progress bars (lr_find's neither)
    assert sorted(p.name for p in (tmp_path/'o').iterdir()) == ['metrics.json', 'simple-confusion.png', 'simple-results.png', 'simple.pkl']
    # fastai's own verbs on this videocls-train export (issue 22): predict a video file, get_preds on test_dl, top losses
    import matplotlib; matplotlib.use('Agg')
    from fastai.learner import load_learner
    from videocls.data.store import ClipStore
    from videocls.inference import predict_video, ClipInterpretation
    learn = load_learner(tmp_path/'o/simple.pkl')
    video = sorted(videos.rglob('*.avi'))[0]
    label, idx, probs = learn.predict(video)
    assert label == learn.dls.vocab[idx] and abs(float(probs.sum()) - 1) < 1e-5
    top = dict(predict_video(learn, video, n_clips=1, k=len(learn.dls.vocab)))   # 8 frames, as a training clip: the same clip
    assert all(abs(top[str(c)] - float(p)) < 1e-5 for c, p in zip(learn.dls.vocab, probs)), (top, probs)
    clips = ClipStore(videos.parent/'videos-store').clips
    preds, _ = learn.get_preds(dl=learn.dls.test_dl([video, *clips[:3]]))
    assert preds.shape == (4, len(learn.dls.vocab)) and torch.allclose(preds[0], probs, atol=1e-5)
    interp = ClipInterpretation.from_learner(learn, dl=learn.dls.test_dl(clips, with_labels=True))
    interp.plot_top_losses(3)
    assert interp.confusion_matrix().sum() == len(clips)

@pytest.mark.once
def test_trained_model_is_saved_before_evaluation(tmp_path, videos, monkeypatch):
    "An evaluation that fails (here made to fail) loses nothing: the learner was exported first, and loads"
    import videocls.evaluate, videocls.train
    from fastai.learner import load_learner
    def broken(*args, **kwargs): raise RuntimeError('evaluation broke')
    monkeypatch.setattr(videocls.evaluate, 'video_accuracy', broken)
    with pytest.raises(RuntimeError, match='evaluation broke'):
        videocls.train.train_videos(videos, models=('simple',), out=tmp_path/'o', epochs=1, lr=1e-3, bs=4, image_size=32, seq_len=4,
                                    arch='test_resnet', n_workers=1, progress=False)
    assert type(load_learner(tmp_path/'o/simple.pkl').model).__name__ == 'SimpleModel'

def test_predict_bad_inputs(tmp_path, capsys):
    clip = write_clip(tmp_path/'v.avi', n_frames=5, size=(32, 32))
    check_fails(call(predict, tmp_path/'nope.pkl', clip, capsys=capsys), 'nope.pkl: no such model file')
    (tmp_path/'notes.pkl').write_text('hello')
    check_fails(call(predict, tmp_path/'notes.pkl', clip, capsys=capsys), 'notes.pkl: not an exported fastai learner')
    torch.save({'w': torch.zeros(2)}, tmp_path/'weights.pkl')
    check_fails(call(predict, tmp_path/'weights.pkl', clip, capsys=capsys), 'weights.pkl: ')
    check_usage(call(predict, tmp_path/'notes.pkl', capsys=capsys), 'give at least one video file')
    check_usage(call(predict, tmp_path/'notes.pkl', clip, crops=2, capsys=capsys), '--crops 2: pass 1 (centre) or 3')

def test_predict_classifies_and_names_unreadable_video(tmp_path):
    "A real exported learner: a held-out clip gets its class; a file that is not a video is named, exit non-zero"
    from fastai.learner import Learner
    from fastai.torch_core import set_seed
    import fastai.callback.schedule  # Learner.fit_one_cycle
    from videocls.data.frames import videos2frames, get_instances
    from videocls.data.core import get_action_dataloaders
    from videocls.models import create_video_model
    make_ucf101_tree(tmp_path/'videos', groups=(1, 2, 3), clips_per_group=2, n_frames=12, size=(64, 64))
    videos2frames(tmp_path/'videos', tmp_path/'frames', n_workers=2, progress=False)
    files = get_instances(tmp_path/'frames')
    dls = get_action_dataloaders(files, bs=4, image_size=32, seq_len=4, mode='uniform',
                                 val_idxs=[i for i, f in enumerate(files) if '_g03_' in f.name])
    set_seed(0)
    model, splitter = create_video_model('simple', dls.c, arch='test_resnet')
    learn = Learner(dls, model, splitter=splitter)
    learn.fit_one_cycle(4, 1e-2)
    learn.export(tmp_path/'learner.pkl')
    held_out = write_clip(tmp_path/'new/v_Basketball_g09_c01.avi', n_frames=30, size=(64, 64), color=(40, 160, 60))
    packed = write_clip(tmp_path/'new/v_Basketball_g09_c02.avi', n_frames=30, size=(64, 64), color=(40, 160, 60), nvops=(5, 17, 29))
    (tmp_path/'notes.avi').write_text('not a video')
    r = run('videocls-predict', tmp_path/'learner.pkl', held_out, packed, tmp_path/'notes.avi', '--k', 2, '--n-clips', 30)
    assert f'{held_out}: Basketball ' in r.stdout, r.stdout
    assert f'{packed}: Basketball ' in r.stdout, r.stdout    # more packets than frames: the frames that decode are used
    check_fails(r, f'{tmp_path}/notes.avi: error: {tmp_path}/notes.avi: cannot be read as a video', '1 of 3 video(s) could not be classified')
