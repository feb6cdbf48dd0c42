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
