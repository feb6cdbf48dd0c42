"""Faults of the clip store as a user meets them: damaged clip files in training, `--verify` and the repairing build; a disk
that fills up and a store that cannot be written during a build; a store built before the checksums"""
import ctypes, json, math, multiprocessing as mp, os, re, shutil, subprocess, sys, tempfile, warnings
from pathlib import Path

import pytest
from fastai.callback.core import Callback

from videocls.testing import make_ucf101_tree, damage_file, frame_index
from videocls.data.store import build_store, ClipStore, DamagedClip, StoreWriteError, check_clip_file
from videocls.data.ucf101 import ucf101_group
from videocls.data.core import get_action_dataloaders
from videocls.learner import video_learner

BIN = Path(sys.executable).parent
DATA = Path(__file__).parent/'data'

class CountClips(Callback):
    "Training clips seen per epoch"
    def before_fit(self): self.counts = []
    def before_epoch(self): self.counts.append(0)
    def after_batch(self):
        if self.training: self.counts[-1] += len(self.yb[0])

def fit(store, epochs=2, **kwargs):
    "A tiny real `Learner` fit on `store` (group 9 validates), in worker processes; return the learner and its clip counts"
    dls = get_action_dataloaders(store, bs=4, image_size=16, seq_len=4, mode='first', num_workers=2,   # frames 0-3: the damaged ones
                                 val_idxs=[i for i, c in enumerate(store.clips) if c.group == 9], **kwargs)
    learn = video_learner(dls, 'simple', arch='test_resnet', precision='fp32')
    learn.add_cb(CountClips())
    with learn.no_bar(), learn.no_logging(): learn.fit(epochs, 1e-3)
    return learn, learn.count_clips.counts

def test_damaged_clips_named_skipped_stopped_repaired(tmp_path, capsys):
    make_ucf101_tree(tmp_path/'videos', groups=(1, 2, 3, 4, 9), clips_per_group=2, n_frames=8, size=(96, 64))
    build_store(tmp_path/'videos', tmp_path/'store', min_size=32, n_workers=2, group_fn=ucf101_group)   # progress on
    out = capsys.readouterr().out
    assert '\r' not in out and 'clips stored: 20/20 (100%) in ' in out, out   # not a terminal: plain lines, not a bar
    store = ClipStore(tmp_path/'store')
    whole = {str(c.path): c.read(range(8)) for c in store.clips}
    trn = [c.path for c in store.clips if c.group != 9]
    cut, over = trn[3], trn[10]
    size = over.stat().st_size
    damage_file(cut, 'truncate')
    start, end = damage_file(over, 'overwrite', nbytes=4096)
    assert (over.stat().st_size, end - start) == (size, 4096) and start > 200   # as long as before; frames overwritten, not the table

    # verify, from Python and from the command line: both named, exit status 1
    damaged = store.verify(progress=False)
    assert sorted(damaged) == sorted([str(cut), str(over)])
    assert damaged[str(cut)].startswith('cut short: ') and damaged[str(over)].endswith('is not what was stored: checksum mismatch')
    r = subprocess.run([str(BIN/'videocls-extract'), str(store.path), '--verify', '--n-workers', '2'], capture_output=True, text=True,
                       env={**os.environ, 'VIDEOCLS_DEBUG': ''}, timeout=600)
    assert r.returncode == 1 and 'Traceback' not in r.stderr, (r.returncode, r.stderr)
    assert f'  damaged: {cut}: cut short: ' in r.stdout and f'  damaged: {over}: frame ' in r.stdout, r.stdout
    assert r.stderr.strip() == (f'error: 2 of the 20 clips of {store.path} are damaged; to repair them, build the store again from its '
                                f'videos: videocls-extract {tmp_path}/videos {store.path} --min-size 32'), r.stderr

    # training, a real Learner in worker processes: left out with a warning each epoch (max_damaged 0.2 of 16)...
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        learn, counts = fit(store, max_damaged=0.2)
    msgs = [str(o.message) for o in w if 'damaged clip(s) left out' in str(o.message)]
    assert [m.split(':')[0] for m in msgs] == [f'2 damaged clip(s) left out of pass {k} over the 16 training clips' for k in (1, 2)], msgs
    assert f'{cut} (cut short: ' in msgs[0] and f'{over} (frame ' in msgs[0] and f'videocls-extract {tmp_path}/videos' in msgs[0], msgs[0]
    assert counts == [14, 14]                                              # 16 training clips, 2 left out of each epoch
    assert len(learn.recorder.values) == 2 and all(math.isfinite(v) for row in learn.recorder.values for v in row)
    # ... or, by default (1% of 16 clips: none may be left out), the run stops at the first, in this process, named
    with pytest.raises(DamagedClip) as e: fit(store, epochs=1)
    msg = str(e.value)
    assert re.match(r'[12] damaged clip\(s\) among the 16 training clips, more than max_damaged=0.01 of them, so the run stops: ', msg), msg
    assert 'Traceback' not in msg and 'worker' not in msg and f'videocls-extract {tmp_path}/videos {store.path} --min-size 32' in msg, msg

    # the same build over the videos names both and rebuilds them, bit for bit as before
    rep = build_store(tmp_path/'videos', tmp_path/'store', min_size=32, n_workers=2, progress=False, group_fn=ucf101_group)
    src = lambda c: str(tmp_path/'videos'/c.parent.name/f'{c.stem}.avi')
    assert sorted(rep.done) == sorted(rep.damaged) == sorted([src(cut), src(over)]) and len(rep.skipped) == 18, rep
    assert 'found 2 damaged (2 rebuilt)' in capsys.readouterr().out
    assert store.verify(progress=False) == {}
    for c in store.clips: assert (c.read(range(8)) == whole[str(c.path)]).all(), c

def _own_mounts()->bool:
    "Give this process (forked, so single-threaded) mounts of its own, as root or in a user namespace; False if the OS refuses"
    libc = ctypes.CDLL(None, use_errno=True)
    uid, gid = os.getuid(), os.getgid()
    if libc.unshare(0x20000 if uid == 0 else 0x20000 | 0x10000000) != 0: return False  # CLONE_NEWNS (| CLONE_NEWUSER)
    if uid != 0:
        Path('/proc/self/setgroups').write_text('deny')
        Path('/proc/self/uid_map').write_text(f'0 {uid} 1'); Path('/proc/self/gid_map').write_text(f'0 {gid} 1')
    return libc.mount(None, b'/', None, 16384 | (1 << 18), None) == 0   # MS_REC | MS_PRIVATE: nothing leaks out

def _mount_tmpfs(path, opts:str, flags:int=0):
    "Mount a tmpfs at `path` (`flags`: 1 read-only, 32 remount)"
    if ctypes.CDLL(None, use_errno=True).mount(b'tmpfs', str(path).encode(), b'tmpfs', flags, opts.encode()) != 0:
        e = ctypes.get_errno(); raise OSError(e, os.strerror(e), str(path))

def _child(conn, f, args, mounts):
    try: conn.send(('ok', f(*args)) if not mounts or _own_mounts() else ('refused', None))
    except BaseException as e: conn.send(('error', f'{type(e).__name__}: {e}'))

def in_child(f, *args, mounts:bool=False):
    "`f(*args)` in a forked process (`mounts`: with mounts of its own, which vanish with it; skip where the OS allows none)"
    ctx = mp.get_context('fork')
    parent, child = ctx.Pipe()
    p = ctx.Process(target=_child, args=(child, f, args, mounts))
    p.start(); p.join(300)
    status, res = parent.recv() if parent.poll() else ('error', f'exit code {p.exitcode}')
    if status == 'refused': pytest.skip('no mount namespace here (neither root nor user namespaces): a small file system cannot be made')
    assert status == 'ok', res
    return res

def _disk_full(videos, mnt):
    "Build a store on a 40 KB tmpfs at `mnt` until it is full; then give it room and build again; return what was seen"
    _mount_tmpfs(mnt, 'size=40k')
    store, out = mnt/'store', {}
    try: build_store(videos, store, min_size=32, n_workers=2, progress=False)
    except StoreWriteError as e: out.update(error=str(e), errno=e.errno)
    out['clips'] = sorted(str(p) for p in store.rglob('*.clip'))
    out['partial'] = [p.name for p in store.rglob('.partial-*')]
    out['whole'] = all(check_clip_file(p) for p in store.rglob('*.clip'))
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        s = ClipStore(store) if (store/'manifest.json').exists() else None
    out['listed'] = None if s is None else len(s)
    out['warned'] = [str(o.message) for o in w]
    _mount_tmpfs(mnt, 'size=4m', 32)   # room again (MS_REMOUNT)
    rep = build_store(videos, store, min_size=32, n_workers=2, progress=False)
    out.update(skipped=len(rep.skipped), done=len(rep.done), damaged=len(rep.damaged), final=ClipStore(store).verify(progress=False),
               n=len(ClipStore(store)))
    ro = mnt.parent/'ro'; ro.mkdir()
    _mount_tmpfs(ro, 'size=64k', 1)   # a read-only file system
    try: build_store(videos, ro/'store', min_size=32, progress=False)
    except StoreWriteError as e: out['readonly'] = str(e)
    return out

def test_disk_full_and_read_only_during_a_build(tmp_path, capsys):
    "On a real small file system (tmpfs): the build stops with what to do, what it stored is whole and listed, and it resumes"
    make_ucf101_tree(tmp_path/'videos', groups=(1, 2), clips_per_group=2, n_frames=8, size=(96, 64))
    (tmp_path/'mnt').mkdir()
    out = in_child(_disk_full, tmp_path/'videos', tmp_path/'mnt', mounts=True)
    k, store = len(out['clips']), tmp_path/'mnt/store'
    assert 1 <= k < 8 and out['errno'] == 28 and out['partial'] == [] and out['whole'], out
    assert out['error'].startswith(f'{store}/') and ': No space left on device: the build of the clip store ' in out['error'], out['error']
    assert f'stopped with {k} of its 8 clips stored, each whole' in out['error'], out['error']
    assert out['error'].endswith(f', or pass another store folder, then run the same build again: it resumes with the {8 - k} clips left.'), out['error']
    if out['listed'] is not None:   # the manifest could be written: it lists what is stored, and says the build stopped
        assert out['listed'] == k and 'each whole and listed in its manifest. Free about ' in out['error'], out
        assert out['warned'] and 'its last build stopped before the end' in out['warned'][0], out['warned']
    else: assert 'its manifest could not be written: the next build lists them' in out['error'], out['error']
    assert (out['skipped'], out['done'], out['damaged'], out['final'], out['n']) == (k, 8 - k, 0, {}, 8), out
    assert out['readonly'] == (f'{tmp_path}/ro/store: Read-only file system: the build of the clip store {tmp_path}/ro/store stopped '
                               'with 0 of its 8 clips stored, each whole (its manifest could not be written: the next build lists them). '
                               'Make it writable, or pass another store folder, then run the same build again: it resumes with the 8 clips left.')
    print(out['error'])

def _forbidden(videos, store):
    "Build into `store` as a user who may not write there (root: as nobody)"
    if os.getuid() == 0: os.setgid(65534); os.setuid(65534)
    try: build_store(videos, store, min_size=32, n_workers=1, progress=False)
    except StoreWriteError as e: return str(e)

def test_permission_denied_during_a_build():
    root = Path(tempfile.mkdtemp()); root.chmod(0o755)   # readable by the user the build runs as
    try:
        make_ucf101_tree(root/'videos', groups=(1,), clips_per_group=1, n_frames=4, size=(64, 48))
        (root/'store').mkdir(mode=0o555)
        msg = in_child(_forbidden, root/'videos', root/'store')
        assert msg.startswith(f'{root}/store/ApplyEyeMakeup: Permission denied: the build of the clip store {root}/store stopped with 0 '
                              'of its 2 clips stored, each whole (its manifest could not be written'), msg
        assert msg.endswith('Make it writable, or pass another store folder, then run the same build again: it resumes with the 2 clips left.'), msg
    finally: shutil.rmtree(root)

def test_store_built_before_checksums(tmp_path, capsys):
    "A store written by videocls before the checksums (tests/data/store-v1) trains; a build over it keeps its clips and says so; --force adds them"
    store = tmp_path/'store'
    shutil.copytree(DATA/'store-v1', store)
    make_ucf101_tree(tmp_path/'videos', groups=(1, 2), clips_per_group=1, n_frames=6, size=(64, 48))   # the videos it was built from
    s = ClipStore(store)
    dls = get_action_dataloaders(s, bs=2, image_size=16, seq_len=6, mode='first', val_idxs=[1, 3], num_workers=0)
    assert [[frame_index(f) for f in c.read(range(6))] for c in s.clips] == [list(range(6))] * 4
    assert sum(len(y) for _, y in dls.train) == 2
    rep = build_store(tmp_path/'videos', store, min_size=24, n_workers=1, progress=False)
    assert (len(rep.skipped), len(rep.unchecked), len(rep.done)) == (4, 4, 0)
    assert '  4 clip(s) kept from an older store have no checksums: build again with force=True (videocls-extract --force)' in capsys.readouterr().out
    assert json.loads((store/'manifest.json').read_text())['version'] == 2 and len(ClipStore(store)) == 4
    rep = build_store(tmp_path/'videos', store, min_size=24, n_workers=1, progress=False, force=True)
    assert len(rep.done) == 4 and rep.unchecked == [] and {check_clip_file(c.path)[0] for c in ClipStore(store).clips} == {2}
