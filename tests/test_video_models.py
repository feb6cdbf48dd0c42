"""Pretrained video models (issue 26), loaded through videocls as a user would, from files saved the way their libraries
save them (randomly initialised: nothing can be downloaded here), on real clips (PyAV-written videos in a clip store):

- for every family, the learner's logits equal the library's own model run on the same clip with the same weights
  (fp32, CPU, within 1e-5): the library's own preprocessing and layout on the same uint8 frames, so layout,
  normalisation and frame order are proven, not assumed;
- `fine_tune`'s first phase leaves the body frozen (no gradient, weights unchanged; fastai trains its norm layers);
- `learn.export`/`load_learner`, `learn.predict(video)`, `predict_video`, `video_report` (the demo page) and
  `videocls-train`/`videocls-predict` work for them; wrong files are refused before anything is built, keys named.

The clips' frames are exactly the model's size (the store keeps them, `min_size` = that size), so the pipeline's crop and
resize are identities and the reference needs no resampling of its own.
"""
import copy, json, os, subprocess, sys, warnings
from pathlib import Path

import pytest, torch
import torchvision.models.video as tvv
from torch import nn
from torchvision.models import get_model_weights
from torchvision.transforms._presets import VideoClassification
from fastai.callback.core import Callback
from fastai.learner import load_learner
from fastai.torch_core import set_seed

from videocls.testing import make_ucf101_tree, randomize_weights
from videocls.data.store import make_store
from videocls.data.ucf101 import ucf101_group
from videocls.data.core import get_action_dataloaders
from videocls.learner import video_learner
from videocls.models import video_preset

pytestmark = pytest.mark.once  # one CI lane (pyproject.toml)

transformers = pytest.importorskip('transformers')
BIN = Path(sys.executable).parent

# (frames, size) of each model's test clips: the smallest each takes, to stay fast on a CPU
SIZES = dict(r3d_18=(4, 32), mc3_18=(4, 32), r2plus1d_18=(4, 32), swin3d_t=(4, 32), s3d=(14, 224), mvit_v2_s=(16, 224),
             videomae=(4, 32), hf_timesformer=(4, 32), vivit=(4, 32))
TV_HEADS = dict(r3d_18='fc', mc3_18='fc', r2plus1d_18='fc', swin3d_t='head', s3d='classifier.1', mvit_v2_s='head.1')  # torchvision's classifiers
HF = dict(  # tiny configs of transformers' classes, and the image processor a hub snapshot of each holds
    videomae=('VideoMAEForVideoClassification', 'VideoMAEConfig', 'VideoMAEImageProcessor',
              dict(patch_size=8, tubelet_size=2, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                   use_mean_pooling=True)),
    hf_timesformer=('TimesformerForVideoClassification', 'TimesformerConfig', 'VideoMAEImageProcessor',
                    dict(patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)),
    vivit=('VivitForVideoClassification', 'VivitConfig', 'VivitImageProcessor',
           dict(tubelet_size=[2, 8, 8], hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)))

@pytest.fixture(scope='module')
def data(tmp_path_factory):
    "`data(T, S)`: a clip store of real videos (2 classes, 2 groups) of `T` frames of `S`x`S`, kept at that size"
    root, made = tmp_path_factory.mktemp('video-models'), {}
    def get(T, S):
        if (T, S) not in made:
            v = root/f'videos-{T}x{S}'
            make_ucf101_tree(v, classes=('Archery', 'Bowling'), groups=(1, 2), clips_per_group=2, n_frames=T, size=(S, S))
            made[T, S] = make_store(v, root/f'store-{T}x{S}', min_size=S, n_workers=1, progress=False, group_fn=ucf101_group)
        return made[T, S]
    return get

@pytest.fixture(scope='module')
def checkpoints(tmp_path_factory):
    "`checkpoints(name)`: a randomly initialised model of `name`, saved as its library saves it (a `.pth` file, or a folder)"
    root, made = tmp_path_factory.mktemp('checkpoints'), {}
    def get(name):
        if name in made: return made[name]
        T, S = SIZES[name]
        if name in TV_HEADS:
            made[name] = root/f'{name}.pth'
            torch.save(randomize_weights(getattr(tvv, name)(), seed=len(made)).state_dict(), made[name])  # Kinetics-400's 400 classes
        else:
            cls, cfg, proc, kw = HF[name]
            model = getattr(transformers, cls)(getattr(transformers, cfg)(num_frames=T, image_size=S, num_labels=400, **kw))
            made[name] = root/name
            randomize_weights(model, seed=len(made)).save_pretrained(made[name])
            getattr(transformers, proc)(size={'shortest_edge': S}, crop_size={'height': S, 'width': S}).save_pretrained(made[name])
        return made[name]
    return get

def learner(name, store, weights, **kwargs):
    "`video_learner` on `store` made with `name`'s preset (at the store's frames and size, so a warning says they differ)"
    T, S = SIZES[name]
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        dls = get_action_dataloaders(store, bs=2, preset=video_preset(name, weights), seq_len=T, image_size=S, device='cpu',
                                     val_idxs=[i for i, c in enumerate(store.clips) if c.group == 2], num_workers=0)
        return video_learner(dls, name, weights=weights, precision='fp32', **kwargs)

def library_logits(name, weights, head, frames):
    "The library's own model (loaded by the library), with `head` as its classifier, on uint8 `frames` `(B, T, H, W, 3)` made ready by the library"
    if name in TV_HEADS:
        ref = getattr(tvv, name)()
        ref.load_state_dict(torch.load(weights, weights_only=True))
        if name == 's3d':
            conv = nn.Conv3d(head.in_features, head.out_features, 1)
            with torch.no_grad(): conv.weight.copy_(head.weight[..., None, None, None]); conv.bias.copy_(head.bias)
            head = conv
        ref.set_submodule(TV_HEADS[name], copy.deepcopy(head))
        t = get_model_weights(name).DEFAULT.transforms()  # torchvision's own preset for these weights, at our clips' size
        size = list(frames.shape[2:4])
        prep = VideoClassification(crop_size=size, resize_size=size, mean=t.mean, std=t.std)
        x = torch.stack([prep(f.permute(0, 3, 1, 2)) for f in frames])  # (T, C, H, W) uint8 -> (C, T, H, W) normalised
        with torch.no_grad(): return ref.eval()(x)
    ref = transformers.AutoModelForVideoClassification.from_pretrained(weights).eval()
    ref.classifier = copy.deepcopy(head)
    proc = transformers.AutoImageProcessor.from_pretrained(weights)
    px = torch.cat([proc(list(f.numpy()), return_tensors='pt')['pixel_values'] for f in frames])  # (B, T, C, H, W)
    with torch.no_grad(): return ref(pixel_values=px).logits

@pytest.mark.parametrize('name', list(SIZES))
def test_logits_equal_the_librarys(name, data, checkpoints):
    T, S = SIZES[name]
    store, weights = data(T, S), checkpoints(name)
    learn = learner(name, store, weights)
    assert learn.dls.spec.stats == video_preset(name, weights).stats
    clips = list(store.clips[:1 if S > 100 else 2])  # one clip of 224x224 (MViT's forward takes seconds on a CPU)
    x = learn.dls.test_dl(clips).one_batch()[0]  # through the data pipeline: read, crop, resize, normalise, as in training
    with torch.no_grad(): ours = learn.model.eval()(x)
    frames = torch.stack([torch.from_numpy(c.read(list(range(T)))) for c in clips])  # the same frames, as the store holds them
    ref = library_logits(name, weights, learn.model.head, frames)
    assert ours.shape == (len(clips), 2)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=0)

class BodyGrads(Callback):
    "During the first fit of `fine_tune` (the frozen phase): which body parameters got a gradient; the body's weights before and after"
    def before_fit(self):
        self.fits = getattr(self, 'fits', 0) + 1
        if self.fits == 1: self.before, self.with_grad = copy.deepcopy(self.learn.model.body.state_dict()), set()
    def after_backward(self):
        if self.fits == 1: self.with_grad |= {n for n, p in self.learn.model.body.named_parameters() if p.grad is not None}
    def after_fit(self):
        if self.fits == 1: self.after = copy.deepcopy(self.learn.model.body.state_dict())

def norm_params(body)->set:
    "Names of the parameters of `body`'s normalisation layers (fastai's `train_bn`: they train while the body is frozen)"
    norms = (nn.BatchNorm3d, nn.LayerNorm)
    return {f'{m}.{p}' if m else p for m, mod in body.named_modules() if isinstance(mod, norms) for p, _ in mod.named_parameters(recurse=False)}

@pytest.mark.parametrize('name', ['r3d_18', 'videomae'])
def test_fine_tune_freezes_the_body_first_and_exports(name, data, checkpoints, tmp_path):
    T, S = SIZES[name]
    store, weights = data(T, S), checkpoints(name)
    set_seed(0)
    learn = learner(name, store, weights)
    cb = BodyGrads()
    with learn.no_bar(), learn.no_logging(): learn.fine_tune(1, 1e-3, freeze_epochs=1, cbs=cb)
    norms = norm_params(learn.model.body)
    assert cb.with_grad == norms and len(norms) > 0, sorted(cb.with_grad ^ norms)[:5]  # only fastai's train_bn layers
    frozen = [k for k, p in learn.model.body.named_parameters() if k not in norms]
    assert all(torch.equal(cb.before[k], cb.after[k]) for k in frozen)  # the frozen phase moved no body weight...
    assert not all(torch.equal(cb.after[k], learn.model.body.state_dict()[k]) for k in frozen)  # ...the second did
    # fastai's verbs on the exported learner, and the demo's report
    from videocls.inference import predict_video
    from videocls.demo import video_report
    learn.export(tmp_path/'learn.pkl')
    loaded = load_learner(tmp_path/'learn.pkl')
    video = sorted((store.path.parent/f'videos-{T}x{S}').rglob('*.avi'))[0]
    label, idx, probs = loaded.predict(video)
    torch.testing.assert_close(probs, learn.predict(video)[2], atol=1e-5, rtol=0)
    assert label == loaded.dls.vocab[idx] and loaded.dls.spec == learn.dls.spec
    top = dict(predict_video(loaded, video, n_clips=1, k=2))  # the whole video is one clip: what `predict` saw
    assert abs(top[label] - float(probs.max())) < 1e-5
    assert video_report(loaded, video, n_clips=2)['probs'].shape == (2, 2)

def run(*args):
    return subprocess.run([str(BIN/args[0]), *map(str, args[1:])], capture_output=True, text=True, timeout=600,
                          env={**os.environ, 'VIDEOCLS_DEBUG': ''})

@pytest.mark.parametrize('name, wrong', [('r2plus1d_18', 'r3d_18'), ('videomae', 'vivit')])
def test_cli_trains_exports_predicts_and_refuses_other_weights(name, wrong, data, checkpoints, tmp_path):
    T, S = SIZES[name]
    store, weights = data(T, S), checkpoints(name)
    r = run('videocls-train', store.path, '--models', name, '--weights', checkpoints(wrong), '--out', tmp_path/'refused')
    assert r.returncode == 2 and 'Traceback' not in r.stderr, r.stderr
    said = ("does not fit torchvision's r2plus1d_18 (" if name == 'r2plus1d_18' else "holds a 'vivit' checkpoint, not 'videomae'")
    assert said in r.stderr and not (tmp_path/'refused').exists(), r.stderr
    if name == 'r2plus1d_18': assert "missing keys: ['layer1.0.conv1.0.0.weight'" in r.stderr, r.stderr
    r = run('videocls-train', store.path, '--models', name, '--weights', weights, '--out', tmp_path/'run', '--epochs', 1, '--bs', 2,
            '--seq-len', T, '--image-size', S, '--n-workers', 1, '--test-clips', 1, '--valid-groups', 2)
    assert r.returncode == 0, r.stderr[-3000:]
    m = json.loads((tmp_path/'run/metrics.json').read_text())[0]
    assert (m['model'], m['recipe'], m['arch'], m['mode']) == (name, 'fine_tune', None, 'random'), m
    video = sorted((store.path.parent/f'videos-{T}x{S}').rglob('*.avi'))[0]
    r = run('videocls-predict', tmp_path/f'run/{name}.pkl', video, '--n-clips', 1)
    assert r.returncode == 0 and r.stdout.startswith(f'{video}: ') and r.stdout.count('%') == 2, (r.stdout, r.stderr)

def test_hf_download_offline_says_what_to_fetch(tmp_path):
    "`pretrained=True` without a folder is transformers' own download: offline, the error says what to download and pass"
    code = "from videocls.models import HFVideoModel; HFVideoModel('videomae', 3, pretrained=True)"
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=300,
                       env={**os.environ, 'HF_HUB_OFFLINE': '1', 'HF_HOME': str(tmp_path)})
    assert r.returncode == 1
    assert ('hf download MCG-NJU/videomae-base-finetuned-kinetics --local-dir videomae-k400, then pass weights=videomae-k400'
            in r.stderr), r.stderr[-2000:]
