"""The clip store's loader delivers exactly what the store holds: on a GPU when there is one (the GPU lane, `bench/gpu_lane.sh`,
runs this on the H200: pinned shared-memory ring, copies on a side stream), else on the CPU (CI).

For the same clips and sampling, every clip a batch brings to the device is bit-exact (uint8, before normalisation) with
the frames read straight from its clip file, its label is its own, every training clip comes exactly once per epoch,
over several epochs and after the workers are restarted; the normalised frames equal the batch transform run on the CPU.
"""
import numpy as np, pytest, torch
from fasttransform import Transform

from videocls.data.synthetic import make_synthetic_videos
from videocls.data.store import make_store
from videocls.data.core import get_action_dataloaders
from videocls.data.clip import sample_frames, TensorClip
from videocls.data.augment import ClipBatchTfm
from videocls.data.ucf101 import GroupSplitter, ucf101_group

DEVICE = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
SEQ_LEN, BS = 4, 4

class Capture(Transform):
    "Keep a copy of each uint8 batch of clips as it reaches `ClipBatchTfm` (which runs after it), on the device"
    order = -10
    def __init__(self): super().__init__(); self.seen = []
    def encodes(self, x:TensorClip):
        self.seen.append(x.clone())
        return x

@pytest.fixture(scope='module')
def store(tmp_path_factory):
    p = tmp_path_factory.mktemp('exact')
    make_synthetic_videos(p/'videos', n_groups=4, clips_per_group=2, n_frames=12, size=(48, 32),
                          classes=['MoveLeft', 'Grow', 'Blink', 'Still'], seed=3)
    return make_store(p/'videos', p/'store', min_size=32, n_workers=2, progress=False, group_fn=ucf101_group)

@pytest.fixture(scope='module')
def reference(store):
    "Each clip's frames read straight from its file, as bytes -> (index in the store, label)"
    ref = {c.read(sample_frames(c.n_frames, SEQ_LEN, 'uniform')).tobytes(): (i, c.label) for i, c in enumerate(store.clips)}
    assert len(ref) == len(store.clips), 'two clips with the same frames: the test could not tell them apart'
    return ref

def loaders(store, **kwargs):
    dls = get_action_dataloaders(store, bs=BS, image_size=24, seq_len=SEQ_LEN, mode='uniform', splitter=GroupSplitter([4]),
                                 num_workers=2, device=DEVICE, **kwargs)
    caps = []
    for dl in (dls.train, dls.valid):
        caps.append(Capture())
        dl.after_batch.add(caps[-1])
    return dls, caps

def rows(cap, ys, reference, vocab):
    "The store indices of the clips of the captured batches, checking each is bit-exact and labelled as its clip"
    assert len(cap.seen) == len(ys)
    idxs = []
    for x, y in zip(cap.seen, ys):
        assert x.device.type == DEVICE.type and x.dtype == torch.uint8 and x.shape[1:] == (SEQ_LEN, 32, 48, 3), (x.device, x.shape)
        for clip, label in zip(x.cpu().numpy(), y.tolist()):
            i, own = reference.get(clip.tobytes(), (None, None))
            assert i is not None, 'a clip reached the device that is not bit-exact with any stored clip'
            assert vocab[label] == own, (vocab[label], own)
            idxs.append(i)
    cap.seen.clear()
    return idxs

def test_training_epochs_bring_every_clip_once_bit_exact(store, reference):
    dls, (cap, _) = loaders(store)
    dl = dls.train
    dl.chunk_size = 3   # batches of 4 from chunks of 3 and 1: batches joined across chunks and ring slots
    train_idxs = sorted(i for i, c in enumerate(store.clips) if c.group != 4)
    orders = []
    for epoch in range(4):
        if epoch == 2: dl.shard_(None)   # stop the workers: new ones start with the next epoch
        ys = []
        for x, y in dl:
            assert x[0].device.type == DEVICE.type and x[0].shape == (BS, 3, 24, 24) and y.device.type == DEVICE.type
            ys.append(y)
        got = rows(cap, ys, reference, dls.vocab)
        assert sorted(got) == train_idxs, f'epoch {epoch}: not every training clip exactly once'
        orders.append(got)
    assert len({tuple(o) for o in orders}) > 1, 'the same order every epoch: not shuffled'
    assert dl._ring.pinned == (DEVICE.type == 'cuda')   # the ring is page-locked for the GPU's asynchronous copies

def test_validation_in_order_and_normalised_as_on_the_cpu(store, reference):
    dls, (_, cap) = loaders(store)
    dl = dls.valid
    for epoch in range(2):
        outs, ys = zip(*[(torch.stack(list(x), 1), y) for x, y in dl])  # (B, T, 3, S, S) each
        raw = [o.clone() for o in cap.seen]
        got = rows(cap, ys, reference, dls.vocab)
        assert got == [i for i, c in enumerate(store.clips) if c.group == 4], 'validation clips out of order'
        tfm = ClipBatchTfm(24)  # the same transform, on the CPU, outside training: the centred square
        for r, o in zip(raw, outs):
            want = torch.stack(list(tfm(TensorClip(r.cpu()), split_idx=1)), 1)
            torch.testing.assert_close(o.float().cpu(), want, atol=1e-4, rtol=1e-4)
