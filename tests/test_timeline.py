"""Long videos and embeddings (issue 28, items 1-2), with learners as a user has them (trained on real `.avi` clips,
exported, loaded back): `predict_timeline` names the class of each segment of a video made of known classes, and
`videocls-predict --timeline` writes its rows and picture; `video_embeddings` are the pooled features the head reads,
averaged over `predict_video`'s clips, for every model family; `videocls-embed` writes a file numpy alone reads."""
import os, shutil, subprocess, sys
from pathlib import Path

import numpy as np, pandas as pd, pytest, torch

from fastai.learner import load_learner
from fastai.torch_core import set_seed
import fastai.callback.schedule  # Learner.fit_one_cycle
from videocls.testing import make_ucf101_tree, damage_file
from videocls.data.store import make_store
from videocls.data.ucf101 import ucf101_group
from videocls.data.video import decode_video
from videocls.data.synthetic import write_video
from videocls.data.core import get_action_dataloaders
from videocls.learner import video_learner
from videocls.models import create_video_model
from videocls.inference import predict_video, video_clip_probs
from videocls.timeline import predict_timeline, video_embeddings, clip_embeddings, pooled_features
from videocls.cli import predict
from fastcore.script import CliError

CLASSES = ('ApplyEyeMakeup', 'Basketball', 'Bowling')
ORDER = ('Basketball', 'ApplyEyeMakeup', 'Bowling')  # the segments of the long video
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.usefixtures('one_thread')  # tests/conftest.py

@pytest.fixture(scope='module')
def data(tmp_path_factory, one_thread):
    "`(tmp, videos, simple, rnn, long)`: 3 colour classes of real clips; `simple` trained 6 epochs and `rnn` untrained, both exported and loaded; a video of 3 segments"
    tmp = tmp_path_factory.mktemp('timeline')
    videos = make_ucf101_tree(tmp/'videos', classes=CLASSES, groups=(1, 2, 3), clips_per_group=2, n_frames=12, size=(64, 48))
    store = make_store(tmp/'videos', tmp/'store', min_size=24, n_workers=1, progress=False, group_fn=ucf101_group)
    set_seed(0)
    dls = get_action_dataloaders(store, bs=4, image_size=32, seq_len=4, mode='uniform',
                                 val_idxs=[i for i, c in enumerate(store.clips) if c.group == 3], num_workers=0)
    learn = video_learner(dls, 'simple', arch='test_resnet', precision='fp32')
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(6, 1e-2)  # right on every window for seeds 0-2; 4 epochs were not
    learn.export(tmp/'simple.pkl')
    video_learner(dls, 'rnn', arch='test_resnet', precision='fp32').export(tmp/'rnn.pkl')
    # each segment: the group-3 clips of one class (not trained on), twice: 48 frames
    segment = lambda c: [f.to_ndarray(format='rgb24') for v in [v for v in videos if f'_{c}_g03' in str(v)] * 2 for f in decode_video(v)]
    long = write_video(tmp/'three_segments.avi', np.stack([f for c in ORDER for f in segment(c)]))
    return tmp, videos, load_learner(tmp/'simple.pkl'), load_learner(tmp/'rnn.pkl'), long

def inside(df, i, n=48, fps=25):
    "The windows of timeline `df` that lie inside segment `i` (frames `i*n` to `(i+1)*n`)"
    return df[(df.start >= i * n / fps - 1e-6) & (df.end <= (i + 1) * n / fps + 1e-6)]

def test_timeline_names_each_segment(data):
    tmp, _, learn, _, long = data
    df = predict_timeline(learn, long, bs=5)  # batches of 5 windows: 23 windows, the last batch partial
    assert list(df.columns) == ['start', 'end', 'top_class', 'probability', *CLASSES]
    assert len(df) == 23 and np.allclose(df.start, np.arange(0, 133, 6) / 25) and np.allclose(df.end - df.start, 12 / 25)
    for i, c in enumerate(ORDER):
        win = inside(df, i)
        assert len(win) == 7 and set(win.top_class) == {c}, (c, win)
        assert (win.probability == win[c]).all() and (win[c] > 0.5).all()
    assert np.allclose(predict_timeline(learn, long, bs=64)[list(CLASSES)], df[list(CLASSES)], atol=1e-6)  # batching changes nothing
    t = predict_timeline(learn, long, window=30, stride=40, unit='frames')  # the last window ends with the video
    assert list(zip((t.start * 25).round(), (t.end * 25).round())) == [(0, 30), (40, 70), (80, 110), (114, 144)]

ENV = {**os.environ, 'OMP_NUM_THREADS': '1'}  # one torch thread in the commands too (see `one_thread`)

@pytest.mark.once
def test_cli_timeline_writes_csv_and_picture(data):
    tmp, _, _, _, long = data
    out = subprocess.run([BIN/'videocls-predict', tmp/'simple.pkl', long, '--timeline', tmp/'t.csv', '--window', '0.48', '--stride', '0.24'],
                         capture_output=True, text=True, env=ENV)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f'{long}: 23 windows of 0.48 s over 5.76 s -> {tmp}/t.csv, {tmp}/t.png'
    rows = pd.read_csv(tmp/'t.csv')
    assert list(rows.columns) == ['start', 'end', 'top_class', 'probability', *CLASSES] and len(rows) == 23
    for i, c in enumerate(ORDER): assert set(inside(rows, i).top_class) == {c}
    assert (tmp/'t.png').read_bytes()[:4] == b'\x89PNG' and not list(tmp.glob('.partial-*'))

def test_cli_timeline_bad_input(data, capsys):
    "In process (the same function the console script calls): a bad argument ends with status 2, a bad video with an error naming it"
    tmp, _, _, _, long = data
    for args, msg in [((long, long), '--timeline takes one video, not 2: run it once per video'),
                      ((long,), f'--timeline {tmp}/no/t.csv: its folder does not exist; create it first'),
                      ((long,), f'--timeline {tmp}/t.txt: give a .csv file')]:
        with pytest.raises(SystemExit) as e: predict(str(tmp/'simple.pkl'), *map(str, args), timeline=str(tmp/('no/t.csv' if 'exist' in msg else 't.txt' if '.txt' in msg else 'm.csv')))
        assert e.value.code == 2 and msg in capsys.readouterr().err
    with pytest.raises(SystemExit) as e: predict(str(tmp/'simple.pkl'), str(long), timeline=str(tmp/'m.csv'), stride=-1.)
    assert e.value.code == 2 and '--stride -1.0: pass a number of seconds above 0' in capsys.readouterr().err
    with pytest.raises(CliError, match=f'error: {tmp}/missing.avi: no such video file; check the path'):
        predict(str(tmp/'simple.pkl'), str(tmp/'missing.avi'), timeline=str(tmp/'m.csv'))
    assert not (tmp/'m.csv').exists()
    # a video damaged part-way: the windows before the damage are written, and the command ends with an error saying so
    damaged = Path(shutil.copy(long, tmp/'damaged.avi'))
    damage_file(damaged, 'overwrite', nbytes=2048)
    with pytest.raises(CliError) as e: predict(str(tmp/'simple.pkl'), str(damaged), timeline=str(tmp/'d.csv'))
    rows, out = pd.read_csv(tmp/'d.csv'), capsys.readouterr().out
    assert 0 < len(rows) < 23 and out.startswith(f'{damaged}: {len(rows)} windows of 0.48 s over ') and (tmp/'d.png').exists(), out
    msg = str(e.value)
    assert msg.startswith(f'error: {damaged}: decoding failed after ') and 'the file is damaged: re-extract or re-download it' in msg, msg
    assert msg.endswith(f'The timeline covers only its first {rows.end.max():.2f} s, the {round(rows.end.max() * 25)} frames decoded before the damage; those windows are written'), msg

def test_bad_videos_are_named(data, tmp_path):
    _, _, learn, _, _ = data
    (tmp_path/'notes.avi').write_text('not a video')
    short = write_video(tmp_path/'short.avi', np.zeros((3, 48, 64, 3), np.uint8))
    for item, msg in [(tmp_path/'missing.avi', f'{tmp_path}/missing.avi: no such video file; check the path'),
                      (tmp_path/'notes.avi', f'{tmp_path}/notes.avi: cannot be read as a video'),
                      (short, f'{short}: 3 frame(s), fewer than the 4 of one clip of this model; give a video of at least 4 frames')]:
        for f in (lambda: predict_timeline(learn, item), lambda: video_embeddings(learn, [item])):
            with pytest.raises((OSError, ValueError)) as e: f()
            assert msg in str(e.value), (msg, str(e.value))
    with pytest.raises(ValueError, match='window of 2 frames is shorter than the 4 frames of one clip'):
        predict_timeline(learn, short, window=2, unit='frames')

def test_embedding_through_the_head_is_predict_video(data):
    "The CNN+LSTM's head is affine (BatchNorm, Linear): the embedding of each clip through it gives that clip's probabilities, and their mean `predict_video`'s"
    _, videos, _, learn, _ = data
    v = videos[-1]
    names, emb = video_embeddings(learn, [videos[0], v], n_clips=1)
    assert names == [str(videos[0]), str(v)] and emb.shape == (2, learn.model.num_features) and emb.dtype == np.float32
    with torch.no_grad(): p = torch.softmax(learn.model.head(torch.from_numpy(emb)), 1)
    want = dict(predict_video(learn, v, n_clips=1, k=3))
    assert torch.allclose(p[1], torch.tensor([want[c] for c in CLASSES]), atol=1e-5)
    views, probs = video_clip_probs(learn, v, n_clips=3)  # 3 clips: features averaged, as probabilities are by predict_video
    with torch.no_grad(): per_clip = clip_embeddings(learn, views)
    assert torch.allclose(torch.softmax(learn.model.head(per_clip), 1), probs, atol=1e-5)
    assert np.allclose(video_embeddings(learn, [v], n_clips=3)[1][0], per_clip.mean(0).numpy(), atol=1e-6)

@pytest.mark.once
def test_cli_embed_loads_with_numpy_alone(data):
    tmp, videos, _, _, _ = data
    script = tmp/'videocls-embed'  # the console script pip writes (settings.ini), so this runs without reinstalling
    script.write_text('import sys\nfrom videocls.timeline import embed_cli\nif __name__ == "__main__": sys.exit(embed_cli())\n')
    out = subprocess.run([sys.executable, script, tmp/'simple.pkl', videos[0], tmp/'missing.avi', videos[-1], '--out', tmp/'e.npz'],
                         capture_output=True, text=True, env=ENV)
    assert out.returncode == 1, out.stderr
    assert f'{tmp}/missing.avi: error: {tmp}/missing.avi: no such video file; check the path' in out.stdout
    assert out.stderr.strip().splitlines()[-1] == f'error: 1 of 3 video(s) could not be embedded (left out of {tmp}/e.npz)'
    code = f"import numpy as np; d = np.load({str(tmp/'e.npz')!r}); print(d['names'].tolist(), d['embeddings'].shape, d['embeddings'].dtype)"
    res = subprocess.run([sys.executable, '-S', '-c', code], capture_output=True, text=True,  # numpy only, no pickle
                         env={'PYTHONPATH': os.path.dirname(os.path.dirname(np.__file__))})
    assert res.stdout.strip() == f"[{str(videos[0])!r}, {str(videos[-1])!r}] (2, 192) float32"  # the baseline: 96 features, average and max pooled, res.stderr

@pytest.mark.once
@pytest.mark.parametrize('name', ['r3d_18', 'swin3d_t', 'videomae', 'vivit'])
def test_pooled_features_feed_the_head_of_library_models(name):
    "torchvision's and Hugging Face's families (tiny, random weights): the pooled features through the head are the logits"
    kw = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
    if name in ('videomae', 'vivit'): pytest.importorskip('transformers')
    extra = {'videomae': dict(patch_size=8, tubelet_size=2, **kw), 'vivit': dict(tubelet_size=[2, 8, 8], **kw)}.get(name, {})
    m = create_video_model(name, 3, seq_len=4, image_size=32, **extra)[0].eval()
    x = torch.randn(2, 4, 3, 32, 32)
    with torch.no_grad():
        f = pooled_features(m, x)
        assert f.shape == (2, m.num_features)
        assert torch.allclose(m.head(f), m(x), atol=1e-5)
