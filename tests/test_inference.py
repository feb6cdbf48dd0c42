"fastai's own verbs on videos, with a learner as a user has it: exported, then loaded with `load_learner`"
from pathlib import Path

import pytest, torch
import matplotlib; matplotlib.use('Agg')
import matplotlib.pyplot as plt

from fastai.learner import load_learner
from videocls.inference import ClipInterpretation
from videocls.testing import write_clip
from videocls.data.store import MemoryClip
from videocls.evaluate import predict_clips
from videocls.inference import predict_video, video_clip_probs

@pytest.fixture(scope='module')
def exported(tmp_path_factory, tiny_store_learner):
    "A tiny clip-store learner ('uniform', 4 frames of 32x32), exported and loaded back; its store; new videos"
    tmp = tmp_path_factory.mktemp('inference')
    learn, store = tiny_store_learner(tmp)
    interp = ClipInterpretation.from_learner(learn)   # fastai's default: the validation set, before export
    learn.export(tmp/'learner.pkl')
    videos = [write_clip(tmp/f'new/v_{c}_g09_c01.avi', n_frames=n, size=(64, 48), color=col)
              for c, n, col in [('Basketball', 40, (40, 160, 60)), ('ApplyEyeMakeup', 12, (200, 60, 40))]]
    return load_learner(tmp/'learner.pkl'), store, videos, interp

def test_predict_returns_label_index_probs(exported):
    "`learn.predict(path)`: fastai's (label, index, probabilities); for a video no longer than a training video, `predict_video` with one clip takes the same frames"
    learn, _, (long, short), _ = exported
    for v in (long, short):
        label, idx, probs = learn.predict(v)
        assert label == learn.dls.vocab[idx] and probs.shape == (2,) and abs(float(probs.sum()) - 1) < 1e-5
        assert torch.allclose(learn.predict(str(v))[2], probs, atol=1e-6)   # a str as well as a Path
    one = dict(predict_video(learn, short, n_clips=1))
    assert torch.allclose(learn.predict(short)[2], torch.tensor([one[c] for c in learn.dls.vocab]), atol=1e-5), one

def test_predict_and_predict_video_past_span(exported):
    "The learner's `ClipSpec` carries the typical training length (`span`, 12 here): `predict_video`'s one view of a longer video covers its start"
    learn, _, (long, short), _ = exported
    assert learn.dls.spec.span == 12   # from the data, through export and `load_learner`
    views, probs = video_clip_probs(learn, short, n_clips=1)   # 12 frames: the whole video, as `learn.predict`
    assert views[0].idxs == [0, 4, 7, 11]
    assert torch.allclose(learn.predict(short)[2], probs[0], atol=1e-5)
    views, probs = video_clip_probs(learn, long, n_clips=1)    # 40 frames: the first 12 only
    assert views[0].idxs == [0, 4, 7, 11]
    whole = predict_clips(learn, [MemoryClip.from_video(long, min_size=24)], 1, span=40)[0]   # frames 0, 13, 26, 39
    assert torch.allclose(learn.predict(long)[2], whole, atol=1e-5)

def test_test_dl_and_get_preds(exported):
    "`test_dl` takes video files (str or Path) and store clips, read here or in worker processes, and gives `predict`'s answers"
    learn, store, videos, _ = exported
    items = [videos[0], str(videos[1]), *store.clips[:3]]
    preds, targs = learn.get_preds(dl=learn.dls.test_dl(items))
    assert preds.shape == (5, 2) and targs is None
    for p, v in zip(preds, videos): assert torch.allclose(p, learn.predict(v)[2], atol=1e-5)
    in_workers, _ = learn.get_preds(dl=learn.dls.test_dl(items, num_workers=2))
    assert torch.allclose(in_workers, preds, atol=1e-5)

def test_bad_videos_are_named(exported, tmp_path):
    learn, _, _, _ = exported
    (tmp_path/'notes.avi').write_text('not a video')
    short = write_clip(tmp_path/'short.avi', n_frames=3, size=(64, 48))
    for item, msg in [(tmp_path/'missing.avi', f'{tmp_path}/missing.avi: no such video file; check the path'),
                      (tmp_path/'notes.avi', f'{tmp_path}/notes.avi: cannot be read as a video'),
                      (short, f'{short}: 3 frame(s), fewer than the 4 of one clip of this model; give a video of at least 4 frames'),
                      (tmp_path, f'{tmp_path}: a folder, not a video file')]:
        for f in (lambda: learn.predict(item), lambda: learn.get_preds(dl=learn.dls.test_dl([item]))):
            with pytest.raises((OSError, ValueError)) as e: f()
            assert msg in str(e.value), (msg, str(e.value))

def _clip_axes(): return [a for a in plt.gcf().axes if a.get_images()]

def test_interpretation(exported):
    "`ClipInterpretation` (fastai's `ClassificationInterpretation` with clips kept whole): `plot_top_losses` draws clips titled prediction/actual/loss/probability, largest loss first"
    learn, store, _, default = exported
    for interp, n in [(default, 4), (ClipInterpretation.from_learner(learn, dl=learn.dls.test_dl(store.clips, with_labels=True)), 5)]:
        plt.close('all')
        interp.plot_top_losses(n)
        axes = _clip_axes()
        assert len(axes) == n
        assert all(a.get_images()[0].get_array().shape == (32, 96, 3) for a in axes)   # first, middle, last frame of 32x32
        titles = [a.get_title().split('/') for a in axes]
        assert all(len(t) == 4 and t[0] in learn.dls.vocab and t[1].strip() in learn.dls.vocab for t in titles), titles
        losses = [float(t[2]) for t in titles]
        assert losses == sorted(losses, reverse=True) and abs(losses[0] - interp.losses.max().item()) < 0.01, (losses, interp.losses)
        plt.close('all')
        interp.plot_confusion_matrix()
        assert int(interp.confusion_matrix().sum()) == len(interp.losses)
    assert len(default.losses) == 4   # the 4 validation clips (group 3)

# The tutorial's path (a frames tree: `videos2frames` + `get_instances`) at parity with the store's (issue 27)
import ast, warnings
from videocls.data.frames import videos2frames, get_instances
from videocls.data.store import build_store, ClipStore
from videocls.data.core import get_action_dataloaders, clip_group
from videocls.learner import video_learner

@pytest.fixture(scope='module')
def frames_exported(exported):
    "A learner trained on the frames tree of the same videos as `exported`'s (the seed's data), exported and loaded back; its tree"
    from fastai.torch_core import set_seed
    import fastai.callback.schedule  # Learner.fit_one_cycle
    tmp = exported[1].path.parent
    videos2frames(tmp/'videos', tmp/'frames', n_workers=1, progress=False)
    files = get_instances(tmp/'frames')
    set_seed(0)
    dls = get_action_dataloaders(files, bs=4, image_size=32, seq_len=4, mode='uniform',
                                 val_idxs=[i for i, f in enumerate(files) if clip_group(f) == 3], num_workers=0)
    learn = video_learner(dls, 'simple', arch='test_resnet', precision='fp32')
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(3, 1e-2)
    interp = ClipInterpretation.from_learner(learn)   # the validation set, before export
    learn.export(tmp/'frames_learner.pkl')
    return load_learner(tmp/'frames_learner.pkl'), files, interp

def _leaks(src, **kw):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        get_action_dataloaders(src, bs=2, image_size=32, seq_len=4, num_workers=0, **kw)
    return [str(o.message) for o in w if 'group(s) have clips in both train and valid' in str(o.message)]

def test_random_split_warns_by_default(frames_exported, tmp_path):
    "A random split of UCF101-named clips warns of leaking groups without `group_fn`: a frames tree, a store built without groups"
    _, files, _ = frames_exported
    build_store(files[0].parents[1], tmp_path/'store', min_size=32, n_workers=1, progress=False)   # no group_fn: no groups recorded
    store = ClipStore(tmp_path/'store')
    assert {c.group for c in store.clips} == {None}
    for src in (files, store):
        assert len(_leaks(src, seed=0)) == 1, src
        assert _leaks(src, val_idxs=[i for i, f in enumerate(files) if '_g03_' in f.name]) == []

def test_generic_data_modules_import_nothing_of_ucf101():
    "The generic data modules import nothing of UCF101; the package imports `videocls.data.ucf101`, so its group rule is registered whatever a user imports"
    root = Path(__file__).parents[1]/'videocls/data'
    def imports(name):
        tree = ast.parse((root/f'{name}.py').read_text())
        return [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names] + \
               [f'{n.module or ""}.{a.name}' for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names]
    for name in ['rar', 'video', 'build', 'frames', 'store', 'clip', 'augment', 'loader', 'core']:
        assert not any('ucf101' in m for m in imports(name)), (name, imports(name))
    assert '.ucf101' in imports('__init__')

def test_frames_learner_predicts_videos(exported, frames_exported, tmp_path):
    "`learn.predict(video)` and `test_dl(videos)` on a learner trained on a frames tree: the answers of the clip folders `videos2frames` made"
    learn, files, _ = frames_exported
    _, _, new, _ = exported
    video = files[0].parents[1].parent/'videos'/files[0].parent.name/f'{files[0].name}.avi'
    folder = learn.predict(files[0])
    for v in (video, str(video)):
        label, idx, probs = learn.predict(v)
        assert label == learn.dls.vocab[idx] == folder[0] and probs.shape == (2,)
        assert torch.allclose(probs, folder[2], atol=1e-5), (probs, folder[2])
    items = [video, str(video), files[0], *new]
    preds, targs = learn.get_preds(dl=learn.dls.test_dl(items))
    assert preds.shape == (5, 2) and targs is None
    for p, item in zip(preds, items): assert torch.allclose(p, learn.predict(item)[2], atol=1e-5)
    assert torch.allclose(learn.get_preds(dl=learn.dls.test_dl(items, num_workers=2))[0], preds, atol=1e-5)   # in workers
    (tmp_path/'notes.avi').write_text('not a video')
    short = write_clip(tmp_path/'short.avi', n_frames=3, size=(64, 48))
    for item, msg in [(tmp_path/'missing.avi', f'{tmp_path}/missing.avi: no such video file'),
                      (tmp_path/'notes.avi', f'{tmp_path}/notes.avi: cannot be read as a video'),
                      (short, f'{short}: 3 frame(s), fewer than the 4 of one clip of this model'),
                      (tmp_path, f'{tmp_path}: no frames (.jpg/.png) in this clip folder')]:
        for f in (lambda: learn.predict(item), lambda: learn.get_preds(dl=learn.dls.test_dl([item]))):
            with pytest.raises((OSError, ValueError)) as e: f()
            assert msg in str(e.value), (msg, str(e.value))

def test_store_learner_takes_clip_folders(exported, frames_exported, tmp_path):
    "A store learner reads a clip folder as `build_store` stores it: the answers of the store built from the frames tree"
    learn, *_ = exported
    _, files, _ = frames_exported
    build_store(files[0].parents[1], tmp_path/'store', min_size=24, n_workers=1, progress=False)
    clips = ClipStore(tmp_path/'store').clips
    assert [c.path.stem for c in clips] == [f.name for f in files]
    from_folders = learn.get_preds(dl=learn.dls.test_dl(files))[0]
    assert torch.allclose(from_folders, learn.get_preds(dl=learn.dls.test_dl(clips))[0], atol=1e-6)
    assert torch.allclose(learn.predict(files[1])[2], from_folders[1], atol=1e-5)

@pytest.mark.parametrize('kind', ['store', 'frames'])
def test_labelled_videos_on_every_learner(exported, frames_exported, kind):
    "`test_dl(videos in class folders, with_labels=True)` on both learners: their folders' labels, the answers of the training data; `ClipInterpretation` on them"
    if kind == 'store': (learn, store, _, _), same, default = exported, exported[1].clips, None   # (its default: test_interpretation)
    else: learn, same, default = frames_exported
    videos = sorted((exported[1].path.parent/'videos').rglob('*.avi'))   # what `same` was made of, in the same order
    labels = torch.tensor([learn.dls.vocab.o2i[v.parent.name] for v in videos])
    ref = learn.get_preds(dl=learn.dls.test_dl(same, with_labels=True), with_loss=True)   # (preds, targs, losses)
    assert torch.equal(ref[1], labels)
    preds, targs = learn.get_preds(dl=learn.dls.test_dl([str(v) for v in videos[::4]], with_labels=True))   # str paths
    assert torch.equal(targs, labels[::4]) and torch.allclose(preds, ref[0][::4], atol=1e-5), (targs, preds)
    interp = ClipInterpretation.from_learner(learn, dl=learn.dls.test_dl(videos, with_labels=True))   # Paths
    assert torch.allclose(interp.losses, ref[2], atol=1e-4), (interp.losses, ref[2])   # the same labels and predictions
    for it, n in [(interp, 5)] + ([(default, 4)] if default else []):   # labelled videos; the validation set before export
        plt.close('all')
        it.plot_top_losses(n)
        axes = _clip_axes()
        assert len(axes) == n and all(a.get_images()[0].get_array().shape == (32, 96, 3) for a in axes)
        titles = [a.get_title().split('/') for a in axes]
        assert all(len(t) == 4 and t[0] in learn.dls.vocab and t[1].strip() in learn.dls.vocab for t in titles), titles
        losses = [float(t[2]) for t in titles]
        assert losses == sorted(losses, reverse=True) and abs(losses[0] - it.losses.max().item()) < 0.01, (losses, it.losses)
    cm = interp.confusion_matrix()
    assert cm.sum() == len(videos) == 12 and cm.sum(1).tolist() == [6, 6]   # 6 videos of each class, by their folders
    assert default is None or len(default.losses) == 4   # the 4 validation clips (group 3)
    plt.close('all')
