"""Every model of `videocls.models` through fastai: `fine_tune` lowers the training loss on a learnable generated task,
`export`/`load_learner` predict the same; plus the bad-input battery of the encoders and the factory.

The notebook nbs/26_models.factory.ipynb runs the training check for two models (to keep it fast); this file runs it for all
of `videocls_model_names` (videocls's own; the pretrained video models are in tests/test_video_models.py), with `ImageTuple`-like batches (a tuple of `T` tensors `(B, 3, H, W)`) as the data layer yields.
"""
import re
from pathlib import Path

import pytest
import torch
from fastcore.basics import fastuple
from fastai.callback.core import Callback
from fastai.callback.progress import ProgressCallback  # noqa: F401  adds `Learner.no_bar`
from fastai.callback.schedule import SchedCos  # noqa: F401  adds `Learner.fine_tune`, `lr_find`
from fastai.data.core import Datasets
from fastai.data.transforms import Categorize, ItemGetter
from fastai.learner import Learner, load_learner
from fastai.metrics import accuracy
from fastai.torch_core import TensorImage, set_seed

import videocls.models as vm
from videocls.models import create_video_model, videocls_model_names, create_encoder, stack_clip

SEQ_LEN, SZ = 3, 32
TINY = dict(simple={}, rnn=dict(hidden_size=16), convlstm=dict(hidden=8), convgru=dict(hidden=8), convrnn=dict(hidden=8),
            timesformer=dict(patch_size=8, dim=32, depth=1, heads=2, dim_head=16))

def bar_clips(n, seq_len=SEQ_LEN, sz=SZ, seed=0):
    "`n` items `(frames, label)`: noise with a bright vertical bar moving right, red ('red') or blue ('blue')"
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, seq_len, 3, sz, sz, generator=g) * 0.3
    w = sz // 4
    for i in range(n):
        for t in range(seq_len):
            x0 = t * (sz - w) // max(seq_len - 1, 1)
            x[i, t, 0 if i % 2 == 0 else 2, :, x0:x0+w] += 2.
    return [(fastuple(TensorImage(f) for f in clip), 'red' if i % 2 == 0 else 'blue') for i, clip in enumerate(x)]

@pytest.fixture(scope='module')
def dls():
    items = bar_clips(40)
    dsets = Datasets(items, [[ItemGetter(0)], [ItemGetter(1), Categorize()]], splits=[list(range(32)), list(range(32, 40))])
    return dsets.dataloaders(bs=8, num_workers=0)

class TrainLosses(Callback):
    "Collect the loss of every training batch, over all fits"
    def __init__(self): self.losses = []
    def after_batch(self):
        if self.training: self.losses.append(self.learn.loss.item())

@pytest.mark.parametrize('name', videocls_model_names)
def test_fine_tune_and_export(name, dls, tmp_path):
    set_seed(0)
    model, splitter = create_video_model(name, dls.c, arch='test_resnet', seq_len=SEQ_LEN, image_size=SZ, **TINY[name])
    losses = TrainLosses()
    learn = Learner(dls, model, metrics=accuracy, splitter=splitter, cbs=losses)
    with learn.no_bar(), learn.no_logging():
        learn.fine_tune(1, base_lr=1e-2, freeze_epochs=1)
        nb = len(dls.train)
        first, last = sum(losses.losses[:nb]) / nb, sum(losses.losses[-nb:]) / nb
        assert last < 0.7 * first, f'{name}: training loss went from {first:.3f} to {last:.3f}'
        learn.export(tmp_path/'learn.pkl')
        learn2 = load_learner(tmp_path/'learn.pkl')
        items = bar_clips(4, seed=1)
        p1 = learn.get_preds(dl=learn.dls.test_dl(items))[0]
        p2 = learn2.get_preds(dl=learn2.dls.test_dl(items))[0]
    assert p1.shape == (4, 2)
    tol = dict(rtol=1e-3, atol=1e-3) if next(learn.model.parameters()).is_cuda else {}  # the loaded learner runs on the CPU, a GPU's convolutions in TF32
    torch.testing.assert_close(p2, p1, **tol)

def test_frozen_phase_trains_only_the_head(dls):
    "`fine_tune`'s first phase leaves the encoder's weights (not its BatchNorm) untouched"
    set_seed(0)
    model, splitter = create_video_model('rnn', dls.c, arch='test_resnet', **TINY['rnn'])
    learn = Learner(dls, model, splitter=splitter)
    conv = model.encoder.module.conv1[0].weight.detach().clone()
    lstm = model.rnn.weight_ih_l0.detach().clone()
    with learn.no_bar(), learn.no_logging():
        learn.freeze()
        learn.fit(1, 1e-2)
    assert torch.equal(model.encoder.module.conv1[0].weight.cpu(), conv.cpu())   # the model may have moved to the GPU
    assert not torch.equal(model.rnn.weight_ih_l0.cpu(), lstm.cpu())

def test_lr_find(dls):
    set_seed(0)
    model, splitter = create_video_model('simple', dls.c, arch='test_resnet')
    learn = Learner(dls, model, splitter=splitter)
    before = [p.detach().clone() for p in model.parameters()]
    with learn.no_bar(), learn.no_logging():
        res = learn.lr_find(num_it=12, show_plot=False)
    assert 1e-7 < res.valley < 10
    assert all(torch.equal(a.cpu(), b.cpu()) for a, b in zip(before, model.parameters()))  # lr_find restores the weights (wherever the model went)

@pytest.mark.parametrize('bad, err', [
    (torch.randn(2, 3, 8, 8), 'got a tensor of shape (2, 3, 8, 8)'),
    ([], 'non-empty tuple'),
    ('clip', 'got str'),
    ([torch.randn(1, 3, 8, 8), torch.randn(2, 3, 8, 8)], 'differ in shape'),
])
def test_stack_clip_bad_input(bad, err):
    with pytest.raises((ValueError, TypeError), match=re.escape(err)): stack_clip(bad)

def test_encoder_bad_input(tmp_path):
    with pytest.raises(ValueError, match='pretrained=True for test_resnet'): create_encoder('test_resnet', pretrained=True)
    with pytest.raises(ValueError, match="pool must be 'avg', 'concat' or None"): create_encoder('test_resnet', pool='max')
    with pytest.raises(ValueError, match='unknown torchvision model'): create_encoder('torchvision.resnet9000')
    with pytest.raises(TypeError, match='arch must be'): create_encoder(42)
    (tmp_path/'junk.pth').write_bytes(b'not a checkpoint')
    with pytest.raises(Exception, match='junk.pth'): create_encoder('torchvision.resnet18', weights=tmp_path/'junk.pth')
    torch.save([1, 2], tmp_path/'list.pth')
    with pytest.raises(ValueError, match='not a state_dict'): create_encoder('torchvision.resnet18', weights=tmp_path/'list.pth')

def test_checkpoint_dict_weights(tmp_path):
    "A `{'state_dict': ...}` checkpoint (as training scripts save) loads too"
    from torchvision.models import resnet18
    src = resnet18()
    torch.save({'epoch': 3, 'state_dict': src.state_dict()}, tmp_path/'ckpt.pth')
    enc, nf = create_encoder(resnet18, weights=tmp_path/'ckpt.pth', pool=None)
    assert torch.equal(enc[0].weight, src.conv1.weight)

def test_no_cuda_calls():
    "Models follow their input's device: no `.cuda()` in the library code"
    files = list(Path(vm.__file__).parent.glob('*.py'))
    assert len(files) >= 7 and not [f.name for f in files if '.cuda(' in f.read_text()]

@pytest.mark.parametrize('kw, size', [
    ({}, (32, 48)),                                       # frames need not be square with rotary embeddings
    (dict(heads=3, dim_head=24), (32, 32)),               # a head width whose scale is no power of two
    (dict(rotary_emb=False, shift_tokens=True), (32, 32)),
])
def test_timesformer_sdpa_matches_einsum(kw, size):
    "`SDPATimeSformer` gives timesformer-pytorch's logits (max abs difference < 1e-5) from the same seed, with and without a frame mask"
    from timesformer_pytorch import TimeSformer
    kw = dict(dim=32, num_frames=4, num_classes=3, image_size=32, patch_size=8, depth=2, heads=2, dim_head=16) | kw
    set_seed(0); ref = TimeSformer(**kw).eval()
    set_seed(0); fused = vm.SDPATimeSformer(**kw).eval()
    x = torch.randn(3, 4, 3, *size)
    mask = torch.tensor([[True]*4, [True]*3 + [False], [True]*2 + [False]*2])
    with torch.no_grad():
        for m in (None, mask):
            a, s = ref(x, mask=m), fused(x, mask=m)
            assert a.abs().max() > 0.1 and (s - a).abs().max() < 1e-5

def test_timesformer_attention_pickles(tmp_path):
    "A whole `TimeSformerModel` with either attention saves and loads with `torch.save` (as `learn.export` does)"
    clip = torch.randn(2, SEQ_LEN, 3, SZ, SZ)
    for attention in ('sdpa', 'einsum'):
        m = create_video_model('timesformer', 3, seq_len=SEQ_LEN, image_size=SZ, attention=attention, **TINY['timesformer'])[0].eval()
        torch.save(m, tmp_path/'m.pth')
        m2 = torch.load(tmp_path/'m.pth', weights_only=False)
        assert type(m2.body) is type(m.body) and m2.attention == attention
        with torch.no_grad(): torch.testing.assert_close(m2(clip), m(clip), rtol=0, atol=0)

def test_stack_clip_compiles_without_graph_break():
    "A plain clip tensor goes through `stack_clip` without a `torch.compile` graph break (fastai's `TensorImage` frames still break)"
    import torch._dynamo
    def f(x): return stack_clip(x * 1 if isinstance(x, torch.Tensor) else [o * 1 for o in x]) * 2  # ops on both sides of the call
    for x in (torch.randn(2, 3, 3, 8, 8), [torch.randn(2, 3, 8, 8)] * 3):
        e = torch._dynamo.explain(f)(x)
        assert (e.graph_count, e.graph_break_count) == (1, 0), e.break_reasons

# `CompileModel` (videocls.compile) on the CPU: the `aot_eager` backend traces and partitions the graph as Inductor does but
# runs PyTorch's own kernels (no C++ compile: seconds, not minutes, on 2 cores); the GPU's Inductor is measured by
# bench/compile_epoch.py. Tolerance 1e-5 (max abs difference): the same kernels in another order, fp32.
from videocls.compile import CompileModel, compile_targets

def test_compiled_timesformer_equals_eager():
    kw = dict(n_out=3, image_size=SZ, patch_size=8, num_frames=SEQ_LEN, dim=32, depth=1, heads=2, dim_head=16, attn_dropout=0., ff_dropout=0.)
    torch._dynamo.reset()  # dynamo's compiled variants are counted per process (at most 8): start from none
    set_seed(0); eager = vm.TimeSformerModel(**kw)
    set_seed(0); comp = vm.TimeSformerModel(**kw)
    (name, body), = compile_targets(comp)
    assert name == 'body'
    body.compile(backend='aot_eager', dynamic=False)  # what CompileModel does at before_fit
    x = torch.randn(4, SEQ_LEN, 3, SZ, SZ)
    frames = fastuple(TensorImage(f) for f in x.unbind(1))
    out_e, out_c = eager(frames), comp(frames)
    torch.testing.assert_close(out_c, out_e, rtol=0, atol=1e-5)
    out_e.sum().backward(); out_c.sum().backward()
    for p, q in zip(eager.parameters(), comp.parameters()):
        if p.grad is not None: torch.testing.assert_close(q.grad, p.grad, rtol=0, atol=1e-5)

def test_compile_callback_fits_and_exports(tmp_path, name='simple'):
    "The notebook nbs/23_compile.ipynb runs the same with TimeSformer; the CNN models compile their encoder"
    torch._dynamo.reset()
    items = bar_clips(26)  # 16 training clips, 10 validation clips: the last validation batch (bs 4) is partial
    dsets = Datasets(items, [[ItemGetter(0)], [ItemGetter(1), Categorize()]], splits=[list(range(16)), list(range(16, 26))])
    dls = dsets.dataloaders(bs=4, num_workers=0, device='cpu')  # `cpu=True` compiles on the CPU; also on a GPU machine, where
    set_seed(0)                                                   # the loaded learner (CPU) would differ from a GPU's by more than 1e-5
    model, splitter = create_video_model(name, dls.c, arch='test_resnet', **TINY[name])
    learn = Learner(dls, model, splitter=splitter, cbs=CompileModel(backend='aot_eager', cpu=True))
    with learn.no_bar(), learn.no_logging():
        learn.fit(1, 1e-3)
        assert learn.model.encoder._compiled_call_impl is not None  # the encoder: the child with most parameters
        learn.export(tmp_path/'learn.pkl')
        learn2 = load_learner(tmp_path/'learn.pkl')
        assert getattr(learn2.model.encoder, '_compiled_call_impl', None) is None  # pickling drops the compiled function
        items = bar_clips(4, seed=1)
        p1 = learn.get_preds(dl=learn.dls.test_dl(items))[0]
        p2 = learn2.get_preds(dl=learn2.dls.test_dl(items))[0]
    torch.testing.assert_close(p2, p1, rtol=0, atol=1e-5)

def test_compile_callback_is_a_no_op_on_the_cpu():
    model, splitter = create_video_model('simple', 2, arch='test_resnet')
    dls = Datasets(bar_clips(8), [[ItemGetter(0)], [ItemGetter(1), Categorize()]], splits=[list(range(4)), list(range(4, 8))]).dataloaders(bs=4, num_workers=0, device='cpu')  # also on a GPU machine
    learn = Learner(dls, model, splitter=splitter, cbs=CompileModel())
    with pytest.warns(UserWarning, match='left uncompiled'), learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)
    assert getattr(model.encoder, '_compiled_call_impl', None) is None
