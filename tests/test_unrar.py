"Extraction cases a notebook cannot show: compressed members through unar, no backend, a run killed part-way, odd layouts"
import os, shutil, signal, subprocess, sys, time, zlib
from pathlib import Path

import pytest, rarfile
from videocls.data.rar import unrar, extract_rar, UnrarError, STAGING
from videocls.testing import write_rar

DATA = Path(__file__).parent/'data'
COMPRESSED = DATA/'rar3-solid.rar'  # from rarfile's test suite (ISC licence): RAR3, method 3, solid, 2 members
EXPECTED = b''.join(b'%03d\n' % i for i in range(512))  # each member: lines 000..511

def test_fixture_is_compressed():
    with rarfile.RarFile(COMPRESSED) as rf:
        assert [i.compress_type for i in rf.infolist()] == [rarfile.RAR_M3] * 2

@pytest.mark.skipif(shutil.which('unar') is None and shutil.which('unrar') is None, reason='needs unar (apt-get install unar)')
def test_compressed_members_through_unar(tmp_path):
    dest = unrar(COMPRESSED, tmp_path/'out', progress=False)
    assert sorted(p.name for p in dest.iterdir()) == ['stest1.txt', 'stest2.txt']
    for p in dest.iterdir():
        assert p.read_bytes() == EXPECTED and zlib.crc32(p.read_bytes()) == 0xC5B7E6A2
        assert p.stat().st_mode & 0o777 == 0o644
    rep = extract_rar(COMPRESSED, tmp_path/'out', progress=False)  # nothing left to do
    assert (rep.extracted, len(rep.skipped)) == ([], 2)

def test_no_backend_names_unar(tmp_path, monkeypatch):
    monkeypatch.setenv('PATH', str(tmp_path))  # no unrar, unar, 7z or bsdtar to be found
    with pytest.raises(RuntimeError, match=r'install unar \(`apt-get install unar`'):
        unrar(COMPRESSED, tmp_path/'out', progress=False)
    assert not (tmp_path/'out').exists()  # checked before anything is written

def test_stored_members_need_no_backend(tmp_path, monkeypatch):
    monkeypatch.setenv('PATH', str(tmp_path))
    arc = write_rar(tmp_path/'a.rar', {'UCF-101/A/v_A_g01_c01.avi': b'x' * 10})
    assert (unrar(arc, tmp_path/'out', progress=False)/'A/v_A_g01_c01.avi').read_bytes() == b'x' * 10

def test_missing_and_non_rar_files(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.rar: no such archive; download it'): unrar(tmp_path/'nope.rar', tmp_path/'o')
    (tmp_path/'fake.rar').write_bytes(b'not a rar at all')
    with pytest.raises(RuntimeError, match='fake.rar: not a readable RAR archive'): extract_rar(tmp_path/'fake.rar', tmp_path/'o')
    with pytest.raises(RuntimeError, match='fake.rar: not a readable RAR archive'): unrar(tmp_path/'fake.rar', tmp_path/'o')

def test_file_named_like_strip_root_is_refused_not_dropped(tmp_path):
    arc = write_rar(tmp_path/'a.rar', {'UCF-101': b'a file', 'UCF-101/A/v_A_g01_c01.avi': b'x' * 10})
    rep = extract_rar(arc, tmp_path/'out', strip_root='UCF-101', progress=False)
    assert rep.refused == {'UCF-101': 'a file where the UCF-101/ folder should be'}
    assert rep.extracted == ['UCF-101/A/v_A_g01_c01.avi']
    assert (tmp_path/'out/A/v_A_g01_c01.avi').read_bytes() == b'x' * 10

def test_folder_that_cannot_be_made_is_reported(tmp_path):
    "A folder member below a file member (`A`, then `A/B/`) fails and is named; the rest still comes out"
    arc = write_rar(tmp_path/'a.rar', {'A': b'a file', 'A/B/': None, 'C/v_C_g01_c01.avi': b'c' * 10})
    with pytest.raises(UnrarError, match=r'1 member\(s\) failed') as e: unrar(arc, tmp_path/'out', progress=False)
    rep = e.value.report
    assert list(rep.failed) == ['A/B/'] and 'NotADirectoryError' in rep.failed['A/B/']
    assert sorted(rep.extracted) == ['A', 'C/v_C_g01_c01.avi']
    assert (tmp_path/'out/A').read_bytes() == b'a file' and (tmp_path/'out/C/v_C_g01_c01.avi').read_bytes() == b'c' * 10

def test_duplicate_member_names_keep_one_complete_file(tmp_path):
    arc = tmp_path/'dup.rar'
    write_rar(arc, {'UCF-101/A/x.avi': b'first'})
    data = arc.read_bytes()
    write_rar(tmp_path/'b.rar', {'UCF-101/A/x.avi': b'second!'})
    second = (tmp_path/'b.rar').read_bytes()
    arc.write_bytes(data[:-7] + second[7 + 13:])  # both members in one archive
    with rarfile.RarFile(arc) as rf: assert len(rf.infolist()) == 2
    with pytest.raises(UnrarError, match=r'UCF-101/A/x.avi \(#0\): duplicate name') as e: unrar(arc, tmp_path/'out', progress=False)
    assert e.value.report.extracted == ['UCF-101/A/x.avi']
    assert (tmp_path/'out/A/x.avi').read_bytes() == b'second!'

SCRIPT = '''
import sys
from videocls.data.rar import unrar
unrar(sys.argv[1], sys.argv[2], progress=False)
'''

@pytest.mark.parametrize('top', ['UCF-101/C', pytest.param('C', marks=pytest.mark.once)])  # the UCF-101/ wrapper (dropped), a single class folder (kept)
def test_killed_run_resumes_without_reextracting(tmp_path, capsys, top):
    n, size = 120, 1 << 20
    members = {f'{top}/v_C_g01_c{i:03d}.avi': bytes([i % 251]) * size for i in range(n)}
    arc = write_rar(tmp_path/'big.rar', members)
    dest = tmp_path/'out'
    p = subprocess.Popen([sys.executable, '-c', SCRIPT, str(arc), str(dest)])
    t0 = time.time()
    while time.time() - t0 < 60 and len(list((dest/'C').glob('*.avi')) if (dest/'C').exists() else []) < 5: time.sleep(0.002)
    p.send_signal(signal.SIGKILL); p.wait()
    done = sorted((dest/'C').glob('*.avi'))
    assert 5 <= len(done) < n, f'{len(done)} of {n}: the run was not interrupted part-way'
    for f in done: assert f.read_bytes() == members[f'{top}/{f.name}']  # every file at its final path is complete
    before = {f: f.stat().st_mtime_ns for f in done}
    capsys.readouterr()
    assert unrar(arc, dest, progress=False) == dest
    assert capsys.readouterr().out.strip().endswith(
        f': extracted {n - len(done)}, skipped {len(done)} already complete, failed 0, refused 0')
    assert all(f.stat().st_mtime_ns == t for f, t in before.items())  # not re-extracted
    assert not (dest/STAGING).exists()
    assert len(list((dest/'C').iterdir())) == n
