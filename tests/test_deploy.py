"""Deployment without videocls (issue 28, items 3-4): `export_onnx` / `videocls-export` write an ONNX model and its
preprocessing as JSON; `examples/onnx_predict.py` (onnxruntime, PyAV, numpy) classifies videos with them. On real clips
(PyAV-written .avi files, a clip store, learners exported and loaded back) its probabilities equal `predict_video`'s
clip by clip within 1e-4, and it prints `videocls-predict`'s lines, also where only its three packages are installed:
its numpy JPEG round trip gives libjpeg-turbo's (simplejpeg's) frames bit for bit."""
import importlib.util, json, os, subprocess, sys, venv
from pathlib import Path

import av
import numpy as np
import pytest, torch
from fastai.learner import load_learner
from fastai.torch_core import set_seed

import simplejpeg
from videocls.testing import write_clip, randomize_weights
from videocls.data.video import frame_to_jpeg
from videocls.learner import video_learner
from videocls.inference import video_clip_probs, predict_video
from fastcore.script import CliError
from videocls.deploy import export_onnx, export_cli, ONNX_REFUSED

ort = pytest.importorskip('onnxruntime')
ROOT = Path(__file__).parent.parent
EXAMPLE = ROOT/'examples'/'onnx_predict.py'

def _example():
    "`examples/onnx_predict.py` as a module (it is a script, not part of videocls)"
    spec = importlib.util.spec_from_file_location('onnx_predict', EXAMPLE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
ex = _example()

@pytest.fixture(scope='module')
def deployed(tmp_path_factory, tiny_store_learner):
    "The tiny clip-store learner ('simple', 'uniform', 4 frames of 32x32 from 64x48 videos shrunk to 32x24), and an 'rnn' one trained on the same store, exported and loaded back; new videos"
    import fastai.callback.schedule  # Learner.fit_one_cycle
    tmp = tmp_path_factory.mktemp('deploy')
    learn, store = tiny_store_learner(tmp)
    set_seed(1)
    rnn = video_learner(learn.dls, 'rnn', arch='test_resnet', precision='fp32', hidden_size=16)
    with rnn.no_bar(), rnn.no_logging(): rnn.fit_one_cycle(2, 1e-2)
    learners = {}
    for name, l in (('simple', learn), ('rnn', rnn)):
        l.export(tmp/f'{name}.pkl')
        learners[name] = load_learner(tmp/f'{name}.pkl')
    videos = [write_clip(tmp/f'new/v_{c}_g09_c0{n % 7}.avi', n_frames=n, size=size, color=col)
              for c, n, size, col in [('Basketball', 40, (64, 48), (40, 160, 60)), ('ApplyEyeMakeup', 12, (64, 48), (200, 60, 40)),
                                      ('Basketball', 20, (96, 56), (60, 120, 200)),   # shrunk to 48x28, fitted to 32x24
                                      ('ApplyEyeMakeup', 16, (70, 50), (200, 60, 40))]]  # shrunk to 35x25: odd sizes, fitted to 32x24
    return tmp, learners, videos

def _session(onnx): return ort.InferenceSession(str(onnx), providers=['CPUExecutionProvider'])

def _example_clip_probs(onnx, video, n_clips=3):
    "The example's probabilities of each of the `n_clips` clips of `video` `(n_clips, n_classes)`"
    return ex.clip_probs(_session(onnx), json.loads(Path(onnx).with_suffix('.json').read_text()), video, n_clips)

@pytest.mark.parametrize('name', ['simple', 'rnn'])
def test_onnx_equals_predict_video(deployed, name):
    "Each clip's probabilities from the exported model and the example's preprocessing equal `predict_video`'s (and `learn.predict`'s) within 1e-4"
    tmp, learners, videos = deployed
    learn = learners[name]
    onnx, js = export_onnx(learn, tmp/f'{name}.onnx')
    spec = json.loads(js.read_text())
    assert spec['vocab'] == ['ApplyEyeMakeup', 'Basketball'] and spec['model']['family'] == name and spec['model']['checked'] < 1e-4
    assert spec['clip'] == dict(seq_len=4, mode='uniform', image_size=32, size=[32, 24], min_size=24, span=12,
                                mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225], crop=0.5), spec['clip']
    for v in videos:
        ref = video_clip_probs(learn, v, n_clips=3)[1].numpy()
        got = _example_clip_probs(onnx, v)
        assert np.abs(got - ref).max() < 1e-4, (v, got, ref)
        assert np.abs(ref - ref.mean()).max() > 1e-3   # a trained model: the probabilities are not all alike
    short = videos[1]   # 12 frames, as long as a training clip: `learn.predict` takes the same frames as one clip
    assert np.abs(_example_clip_probs(onnx, short, n_clips=1)[0] - learn.predict(short)[2].numpy()).max() < 1e-4

def _run(*args, **kw): return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=300, **kw)

def test_cli_and_example_print_videocls_predicts_lines(deployed, capsys):
    "`videocls-export` then `examples/onnx_predict.py` (its own process) print exactly the lines `videocls-predict` prints, for every video"
    from videocls.cli import predict
    tmp, _, videos = deployed
    export_cli(str(tmp/'simple.pkl'), str(tmp/'cli/simple.onnx'))   # the console script's function, in this process (fast)
    assert f'wrote {tmp}/cli/simple.onnx and {tmp}/cli/simple.json (onnxruntime matches PyTorch within' in capsys.readouterr().out
    predict(str(tmp/'simple.pkl'), *map(str, videos))
    theirs = capsys.readouterr().out
    ours = _run(sys.executable, EXAMPLE, tmp/'cli/simple.onnx', *videos)
    assert ours.returncode == 0, ours.stderr
    assert ours.stdout == theirs and len(theirs.splitlines()) == 4, (ours.stdout, theirs)

def test_fit_and_reduce_are_pillows():
    "The example's numpy shrink (`Image.reduce`) and fit (`ImageOps.fit`, bilinear) give Pillow's pixels exactly"
    from PIL import Image, ImageOps
    rng = np.random.default_rng(0)
    for f, (h, w) in [(2, (48, 64)), (3, (25, 33)), (5, (240, 320)), (7, (17, 9))]:
        a = rng.integers(0, 256, (h, w), dtype=np.uint8)
        assert (ex.reduce_plane(a, f) == np.asarray(Image.fromarray(a).reduce(f))).all(), f
    for (h, w), size in [((25, 45), (32, 24)), ((60, 40), (32, 24)), ((24, 32), (64, 48)), ((30, 40), (32, 24))]:
        a = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        assert (ex.fit(a, size) == np.asarray(ImageOps.fit(Image.fromarray(a), size, Image.BILINEAR))).all(), (h, w, size)

def _simplejpeg_round_trip(y, cb, cr, quality=90):
    "What simplejpeg (libjpeg-turbo) decodes from its JPEG of 4:2:0 planes, the Y plane padded as `frame_to_jpeg` pads it"
    h, w = y.shape
    y = np.pad(y, ((0, h % 2), (0, w % 2)), mode='edge')[:h, :w]
    return simplejpeg.decode_jpeg(simplejpeg.encode_jpeg_yuv_planes(y, cb, cr, quality=quality), colorspace='RGB')

def test_jpeg_round_trip_is_libjpeg_turbos(tmp_path):
    "The example's numpy JPEG round trip gives the frames videocls holds (`frame_to_jpeg`, then simplejpeg's decoding) bit for bit: real frames of several sizes, shrunk or not, odd sizes, 4:2:0 and other pixel formats (encoded from RGB); random planes; at quality 90, what the JSON gives"
    cases = [(64, 48, 'mpeg4', 'yuv420p', (1, 2)), (70, 50, 'mpeg4', 'yuv420p', (1, 2, 3)), (33, 17, 'mpeg4', 'yuv420p', (1, 2)),
             (36, 20, 'ffv1', 'yuv444p', (1, 3)), (33, 17, 'ffv1', 'bgr0', (1, 2))]   # 70x50 / 3 = 24x17; 33x17 / 2 = 17x9
    n = 0
    for w, h, codec, fmt, factors in cases:
        clip = write_clip(tmp_path/f'{codec}_{fmt}_{w}x{h}.avi', n_frames=3, size=(w, h), codec=codec, pix_fmt=fmt)
        with av.open(str(clip)) as c:
            for frame in c.decode(video=0):
                assert frame.format.name == fmt
                for f in factors:
                    ref = simplejpeg.decode_jpeg(frame_to_jpeg(frame, f, 90), colorspace='RGB')
                    got = ex.jpeg_round_trip(*ex.frame_planes(frame, f), 90)
                    assert got.shape == ref.shape == (-(-h // f), -(-w // f), 3)
                    assert np.array_equal(got, ref), (w, h, fmt, f, np.abs(got.astype(int) - ref).max())
                    n += 1
    assert n == 3 * 11
    rng = np.random.default_rng(0)   # noise, and a checkerboard with extreme chroma: the largest coefficients and the IDCT's range limit
    for h, w in [(48, 64), (25, 35), (9, 17), (4, 6), (3, 2)]:
        planes = [rng.integers(0, 256, s, dtype=np.uint8) for s in [(h, w), (-(-h // 2), -(-w // 2)), (-(-h // 2), -(-w // 2))]]
        assert np.array_equal(ex.jpeg_round_trip(*planes, 90), _simplejpeg_round_trip(*planes)), (h, w)
    y = ((np.indices((24, 40)).sum(0) % 2) * 255).astype(np.uint8)
    cb, cr = np.zeros((12, 20), np.uint8), np.full((12, 20), 255, np.uint8)
    assert np.array_equal(ex.jpeg_round_trip(y, cb, cr, 90), _simplejpeg_round_trip(y, cb, cr))
    with pytest.raises(ValueError, match='JPEG quality 96: this script reproduces TurboJPEG below quality 96'): ex.jpeg_round_trip(y, cb, cr, 96)
    with pytest.raises(ValueError, match='a 5x1 frame: simplejpeg encodes frames 1 pixel wide or high as 4:4:0 or 4:2:2'):
        ex.jpeg_round_trip(y[:1, :5], cb[:1, :3], cr[:1, :3], 90)

def test_bad_input_is_named(deployed, tmp_path):
    "A file that is not a learner, a family that cannot be exported, an unwritable folder and a wrong suffix: each named, with what to do, nothing written"
    tmp, learners, _ = deployed
    (tmp_path/'notes.pkl').write_text('not a learner')
    with pytest.raises(CliError, match=f'error: {tmp_path}/notes.pkl: not an exported fastai learner .*use a .pkl written by videocls-train'):
        export_cli(str(tmp_path/'notes.pkl'), str(tmp_path/'m.onnx'))
    learn = learners['simple']
    with pytest.raises(ValueError, match=r'm\.txt: give a file name ending in \.onnx'): export_onnx(learn, tmp_path/'m.txt')
    (tmp_path/'file').write_text('')
    with pytest.raises(OSError, match=f'{tmp_path}/file/m.onnx: exporting the model to ONNX failed: .*; nothing was written'):
        export_onnx(learn, tmp_path/'file/m.onnx')   # a file where a folder should be
    ro = tmp_path/'ro'; ro.mkdir(); ro.chmod(0o500)
    try:
        if not os.access(ro, os.W_OK):   # (root writes anywhere)
            with pytest.raises(OSError, match=f'{ro}/m.onnx: cannot write there while exporting the model to ONNX .*pick a folder you can write to'):
                export_onnx(learn, ro/'m.onnx')
            assert list(ro.iterdir()) == []
    finally: ro.chmod(0o700)
    set_seed(0)
    conv = video_learner(learn.dls, 'convrnn', arch='test_resnet', precision='fp32', hidden=8)
    with pytest.raises(ValueError, match='a convrnn model cannot be exported to ONNX: its ConvRNN layers keep their hidden state'):
        export_onnx(conv, tmp_path/'conv.onnx')
    assert set(ONNX_REFUSED) == {'convrnn', 'timesformer'}
    assert not list(tmp_path.glob('*.onnx')) and not list(tmp_path.glob('*.json')) and not list(tmp_path.glob('.partial-*'))

# The other families, at tiny sizes with random weights (the model's part is what differs between families); the ConvLSTM
# as the main job trains it, on the encoder's maps at stride 8
FAMILIES = {'convlstm:stride=8': dict(arch='test_resnet', hidden=8), 'convgru': dict(arch='test_resnet', hidden=8), 'r3d_18': {}, 'mc3_18': {}, 'r2plus1d_18': {}}

@pytest.mark.once
@pytest.mark.parametrize('name', list(FAMILIES))
def test_other_families(deployed, name, tmp_path):
    "Every other exportable family (tiny, random weights): the example's probabilities equal `predict_video`'s clip by clip within 1e-4"
    _, learners, videos = deployed
    set_seed(0)
    learn = video_learner(learners['simple'].dls, name, precision='fp32', **FAMILIES[name])
    randomize_weights(learn.model, seed=1, std=0.2)
    learn.model.eval()
    onnx, _ = export_onnx(learn, tmp_path/f'{name}.onnx')
    for v in videos[:2]:
        ref = video_clip_probs(learn, v, n_clips=3)[1].numpy()
        assert np.abs(_example_clip_probs(onnx, v) - ref).max() < 1e-4, name

_PROBS = """import importlib.util, json, sys
import onnxruntime as ort
spec = importlib.util.spec_from_file_location('onnx_predict', sys.argv[1])
ex = importlib.util.module_from_spec(spec); spec.loader.exec_module(ex)
m = json.load(open(sys.argv[2]))
sess = ort.InferenceSession(sys.argv[3], providers=['CPUExecutionProvider'])
print(json.dumps([ex.video_probs(sess, m, v).tolist() for v in sys.argv[4:]]))"""

@pytest.mark.once
def test_example_in_a_clean_venv(deployed, tmp_path, capsys):
    "The example in a fresh virtual environment holding only onnxruntime, av and numpy: videocls-predict's lines, and each video's probabilities within 1e-4 of `predict_video`'s"
    from videocls.cli import predict
    tmp, learners, videos = deployed
    env = tmp_path/'venv'
    venv.create(env, with_pip=True)
    r = _run(env/'bin/pip', 'install', '-q', 'onnxruntime', 'av', 'numpy')
    if r.returncode: pytest.skip(f'pip could not install onnxruntime av numpy (is the package registry reachable?): {r.stderr[-300:]}')
    freeze = _run(env/'bin/pip', 'freeze').stdout.lower()
    assert 'torch' not in freeze and 'videocls' not in freeze and 'simplejpeg' not in freeze and 'pillow' not in freeze, freeze
    onnx, js = export_onnx(learners['simple'], tmp_path/'simple.onnx')
    out = _run(env/'bin/python', EXAMPLE, onnx, *videos, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    predict(str(tmp/'simple.pkl'), *map(str, videos))
    assert out.stdout == capsys.readouterr().out, out.stdout
    probs = _run(env/'bin/python', '-c', _PROBS, EXAMPLE, js, onnx, *videos, cwd=tmp_path)
    assert probs.returncode == 0, probs.stderr
    probs = json.loads(probs.stdout)
    assert len(probs) == len(videos) == 4
    for ours, v in zip(probs, videos):
        theirs = dict(predict_video(learners['simple'], v))
        ours = dict(zip(json.loads(js.read_text())['vocab'], ours))
        assert ours.keys() == theirs.keys() and max(abs(ours[c] - theirs[c]) for c in theirs) < 1e-4, (v, ours, theirs)
