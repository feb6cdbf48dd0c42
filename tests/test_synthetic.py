"The built-in synthetic dataset is the same in every process: no hash seed, global RNG or thread count leaks into it"
import hashlib, os, subprocess, sys
import numpy as np
from videocls.data.synthetic import make_synthetic_videos

_BUILD = ("import hashlib, sys; from videocls.data.synthetic import make_synthetic_videos as m; "
          "fs = m(sys.argv[1], n_groups=2, clips_per_group=1, n_frames=4, size=(32, 32), classes=['MoveLeft', 'MoveRight', 'Blink']); "
          "print(hashlib.md5(b''.join(f.read_bytes() for f in fs)).hexdigest())")

def _build_in_subprocess(dest, hash_seed, threads):
    env = {**os.environ, 'PYTHONHASHSEED': str(hash_seed), 'OMP_NUM_THREADS': str(threads)}
    return subprocess.run([sys.executable, '-c', _BUILD, str(dest)], env=env, check=True, capture_output=True, text=True).stdout.strip()

def test_same_bytes_in_fresh_processes(tmp_path):
    a = _build_in_subprocess(tmp_path/'a', 1, 1)
    b = _build_in_subprocess(tmp_path/'b', 2, 2)
    assert len(a) == 32 and a == b

def test_leaves_global_rng_alone(tmp_path):
    np.random.seed(0)
    expected = np.random.rand(3)
    np.random.seed(0)
    make_synthetic_videos(tmp_path, n_groups=1, clips_per_group=1, n_frames=2, size=(16, 16), classes=['Grow'])
    assert np.array_equal(np.random.rand(3), expected)

def test_rebuild_overwrites_and_leaves_no_partial_files(tmp_path):
    kw = dict(n_groups=1, clips_per_group=1, n_frames=3, size=(16, 16), classes=['Still'])
    first = make_synthetic_videos(tmp_path, **kw)
    first[0].write_bytes(b'garbage')
    again = make_synthetic_videos(tmp_path, **kw)
    assert again == first and again[0].read_bytes()[:4] == b'RIFF'
    assert sorted(p.name for p in (tmp_path/'Still').iterdir()) == ['v_Still_g01_c01.avi']
