"""Time the seed tutorial's own pipeline (frames as JPEG folders, PIL per frame, fastai Datasets)
on UCF101-shaped synthetic videos. This is the performance anchor the project must beat.
(The reference every speed claim in README compares with, kept here unchanged so that a clone can re-run it:
`bench/clip_pipeline.py` imports its generator, frame dump, loader and models.)
Usage: python seed_pipeline.py --n_videos 2000 --root DIR --workers 16
Prints one JSON line per measurement."""
import argparse, json, os, time, math, random
from pathlib import Path
import numpy as np
import av, torch
from fastai.vision.all import *

def make_video(path, n_frames=175, w=320, h=240, seed=0):
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), 'w') as c:
        s = c.add_stream('mpeg4', rate=25); s.width, s.height, s.pix_fmt = w, h, 'yuv420p'
        s.bit_rate = 600_000
        bg = (np.linspace(0, 255, w)[None, :, None] * np.ones((h, 1, 3)) * rng.uniform(0.3, 1, 3)).astype(np.uint8)
        x, y, vx, vy = rng.uniform(0, w-60), rng.uniform(0, h-60), rng.uniform(-4, 4), rng.uniform(-4, 4)
        col = rng.integers(0, 255, 3)
        for i in range(n_frames):
            f = bg.copy(); x = (x+vx) % (w-60); y = (y+vy) % (h-60)
            f[int(y):int(y)+60, int(x):int(x)+60] = col
            f = np.clip(f.astype(np.int16) + rng.integers(-8, 8, f.shape), 0, 255).astype(np.uint8)
            for p in s.encode(av.VideoFrame.from_ndarray(f, format='rgb24')): c.mux(p)
        for p in s.encode(): c.mux(p)

def _mk(a): make_video(*a)

def extract_frames(video_path):
    video = av.open(str(video_path))
    for frame in video.decode(0): yield frame.to_image()

def avi2frames(video_path, path_frames):
    dest_path = path_frames/video_path.relative_to(video_path.parent.parent).with_suffix('')
    if not dest_path.exists():
        dest_path.mkdir(parents=True, exist_ok=True)
        for i, frame in enumerate(extract_frames(video_path)): frame.save(dest_path/f'{i}.jpg')

@patch
def ls_sorted(self:Path): return self.ls().sorted(key=lambda f: int(f.with_suffix('').name))

class ImageTuple(fastuple):
    def show(self, ctx=None, **kwargs): return None

class ImageTupleTfm(Transform):
    def __init__(self, seq_len=20): store_attr()
    def encodes(self, path: Path):
        frames = path.ls_sorted(); s = slice(0, min(self.seq_len, len(frames)))
        return ImageTuple(tuple(PILImage.create(f) for f in frames[s]))

def get_action_dataloaders(files, bs=8, image_size=64, seq_len=20, val_idxs=None, **kwargs):
    splits = RandomSplitter()(files) if val_idxs is None else IndexSplitter(val_idxs)(files)
    itfm = ImageTupleTfm(seq_len=seq_len)
    ds = Datasets(files, tfms=[[itfm], [parent_label, Categorize]], splits=splits)
    return ds.dataloaders(bs=bs, after_item=[Resize(image_size), ToTensor],
                          after_batch=[IntToFloatTensor, Normalize.from_stats(*imagenet_stats)], drop_last=True, **kwargs)

class SimpleModel(Module):
    def __init__(self, arch=resnet34, n_out=101):
        self.encoder = TimeDistributed(create_body(arch(), pretrained=False))
        self.head = TimeDistributed(create_head(512, n_out))
    def forward(self, x):
        x = torch.stack(x, dim=1)
        return self.head(self.encoder(x)).mean(dim=1)

class RNNModel(Module):
    def __init__(self, arch=resnet34, n_out=101, num_rnn_layers=1):
        self.encoder = TimeDistributed(nn.Sequential(create_body(arch(), pretrained=False), nn.AdaptiveAvgPool2d(1), Flatten()))
        self.rnn = nn.LSTM(512, 512, num_layers=num_rnn_layers, batch_first=True)
        self.head = LinBnDrop(num_rnn_layers*512, n_out)
    def forward(self, x):
        x = torch.stack(x, dim=1); x = self.encoder(x); bs = x.shape[0]
        _, (h, _) = self.rnn(x)
        return self.head(h.view(bs, -1))

def tsf(n_out, image_size, seq_len):
    from timesformer_pytorch import TimeSformer
    class MyTimeSformer(TimeSformer):
        def forward(self, x): return super().forward(torch.stack(x, dim=1))
    return MyTimeSformer(dim=128, image_size=image_size, patch_size=16, num_frames=seq_len, num_classes=n_out,
                         depth=12, heads=8, dim_head=64, attn_dropout=0.1, ff_dropout=0.1)

def emit(**kw):
    line = json.dumps(kw); print(line, flush=True)
    if os.environ.get('OUT'): open(os.path.join(os.environ['OUT'], 'seed_pipeline.jsonl'), 'a').write(line + '\n')

if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('--n_videos', type=int, default=2000); ap.add_argument('--n_classes', type=int, default=101)
    ap.add_argument('--n_frames', type=int, default=175); ap.add_argument('--root', default=os.path.join(__import__('tempfile').gettempdir(), 'ucfsyn'))
    ap.add_argument('--workers', type=int, default=min(16, os.cpu_count())); ap.add_argument('--bs', type=int, default=32)
    ap.add_argument('--models', default='simple,rnn,tsf'); ap.add_argument('--skip_gen', action='store_true')
    a = ap.parse_args()
    root = Path(a.root); vids = root/'UCF101'; frames = root/'UCF101-frames'
    jobs = [(vids/f'C{i%a.n_classes:03d}'/f'v_C{i%a.n_classes:03d}_g{i//a.n_classes%25+1:02d}_c{i:05d}.avi', a.n_frames, 320, 240, i)
            for i in range(a.n_videos)]
    if not a.skip_gen:
        t = time.time(); parallel(_mk, jobs, n_workers=a.workers, progress=False); emit(step='gen_videos', s=time.time()-t, n=a.n_videos)
        t = time.time(); parallel(avi2frames, [j[0] for j in jobs], path_frames=frames, n_workers=a.workers, progress=False)
        emit(step='avi2frames_seed', s=time.time()-t, n=a.n_videos, clips_per_s=a.n_videos/(time.time()-t))
    files = L(sorted(p for c in frames.ls() for p in c.ls()))
    dev = 'cuda' if torch.cuda.is_available() else 'cpu'
    for size, seq_len in [(64, 5), (128, 5)]:
        dls = get_action_dataloaders(files, bs=a.bs, image_size=size, seq_len=seq_len, num_workers=a.workers, device=dev)
        n = 0; t = time.time()
        for i, (x, y) in enumerate(dls.train):
            n += y.shape[0]
            if i == 30: break
        if dev == 'cuda': torch.cuda.synchronize()
        emit(step='dataloader_seed', size=size, seq_len=seq_len, clips_per_s=n/(time.time()-t), workers=a.workers)
    for m in a.models.split(','):
        size = 128 if m == 'tsf' else 64
        dls = get_action_dataloaders(files, bs=a.bs, image_size=size, seq_len=5, num_workers=a.workers, device=dev)
        model = {'simple': lambda: SimpleModel(n_out=dls.c), 'rnn': lambda: RNNModel(n_out=dls.c),
                 'tsf': lambda: tsf(dls.c, size, 5)}[m]()
        learn = Learner(dls, model, metrics=[accuracy])
        if dev == 'cuda': learn = learn.to_fp16()
        t = time.time()
        with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)
        el = time.time()-t
        n_train = len(dls.train) * a.bs
        emit(step='fit_epoch_seed', model=m, s=el, train_clips=n_train, clips_per_s=n_train/el)
        # compute-only: same model, batches from a fixed on-device tensor
        xb, yb = dls.one_batch(); learn.model.train()
        opt = torch.optim.Adam(learn.model.parameters(), 1e-3); lf = CrossEntropyLossFlat()
        scaler = torch.amp.GradScaler(enabled=dev=='cuda')
        for warm in range(3) if dev=='cuda' else range(1):
            with torch.autocast(dev, dtype=torch.float16, enabled=dev=='cuda'): loss = lf(learn.model(xb), yb)
            scaler.scale(loss).backward(); scaler.step(opt); scaler.update(); opt.zero_grad()
        if dev == 'cuda': torch.cuda.synchronize()
        k = 30 if dev=='cuda' else 2; t = time.time()
        for _ in range(k):
            with torch.autocast(dev, dtype=torch.float16, enabled=dev=='cuda'): loss = lf(learn.model(xb), yb)
            scaler.scale(loss).backward(); scaler.step(opt); scaler.update(); opt.zero_grad()
        if dev == 'cuda': torch.cuda.synchronize()
        emit(step='compute_only', model=m, clips_per_s=k*a.bs/(time.time()-t))
