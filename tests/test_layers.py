"End-to-end checks of `videocls.layers` inside a fastai `Learner`: training, `export` and `load_learner`"
import pytest, torch
from torch import nn
from fastai.data.core import Datasets
from fastai.learner import Learner, load_learner
from fastai.losses import CrossEntropyLossFlat
from videocls.layers import TimeDistributed, ConvLSTM, ConvGRU, ConvRNN

class _Clf(nn.Module):
    "Tiny clip classifier through every temporal layer: `(B, T, 3, H, W)` -> `(B, n_out)`"
    def __init__(self, kind, n_out=2):
        super().__init__()
        self.kind = kind
        self.body = TimeDistributed(nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU()))
        self.rnn = dict(lstm=lambda: ConvLSTM(8, 8), gru=lambda: ConvGRU(8, 8, 3, 1), rnn=lambda: ConvRNN(8, 8))[kind]()
        self.head = nn.Linear(8, n_out)
    def forward(self, x):
        f = self.body(x)  # (B, T, 8, H/2, W/2)
        if self.kind == 'lstm': h = self.rnn(f)[1][-1][0]
        elif self.kind == 'gru': h = self.rnn(f)[-1]
        else:
            self.rnn.reset_all()  # independent clips: no state between batches
            h = self.rnn(f.transpose(0, 1))[-1]  # time-first in, last step out
        return self.head(h.mean((2, 3)))

_g = torch.Generator().manual_seed(0)
_X = torch.randn(16, 3, 3, 12, 12, generator=_g)  # (n, T, C, H, W)
_Y = torch.arange(16) % 2
_X[_Y == 1, -1] += 1.5  # learnable task: class 1 clips are brighter in their last frame
def _get_x(i): return _X[i]
def _get_y(i): return _Y[i]

def _dls(bs=8):
    "DataLoaders over the generated clips (a real `Datasets`, so `learn.export` can empty it)"
    return Datasets(range(16), tfms=[[_get_x], [_get_y]], splits=[list(range(16)), list(range(16))]).dataloaders(bs=bs, device='cpu')

@pytest.mark.parametrize('kind', ['lstm', 'gru', 'rnn'])
def test_train_export_load(tmp_path, kind):
    "Each recurrent layer trains (validation loss falls) and survives `learn.export` / `load_learner`"
    torch.manual_seed(0)
    dls = _dls()
    learn = Learner(dls, _Clf(kind), loss_func=CrossEntropyLossFlat(), path=tmp_path)
    xb, yb = dls.valid.one_batch()
    before = learn.loss_func(learn.model(xb), yb).item()
    learn.fit(2, 1e-2)
    learn.model.eval()
    with torch.no_grad(): after, out = learn.loss_func(learn.model(xb), yb).item(), learn.model(xb)
    assert after < before, (kind, before, after)
    learn.export(f'{kind}.pkl')
    learn2 = load_learner(tmp_path/f'{kind}.pkl')
    with torch.no_grad(): torch.testing.assert_close(learn2.model(xb), out)
