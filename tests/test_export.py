"The exported package must be what `nbdev-export` makes of the notebooks (nothing edited by hand, nothing stale)"
import filecmp, os, shutil, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).parents[1]

def test_nbdev_export_changes_nothing(tmp_path):
    for name in ['nbs', 'videocls']: shutil.copytree(ROOT/name, tmp_path/name, ignore=shutil.ignore_patterns('__pycache__', '_data', '*.png'))
    for name in ['pyproject.toml', 'settings.ini']: shutil.copy(ROOT/name, tmp_path/name)
    exe = shutil.which('nbdev-export', path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get('PATH', '')]))  # the venv's first
    subprocess.run([str(exe)], cwd=tmp_path, check=True, capture_output=True)
    cmp = filecmp.dircmp(ROOT/'videocls', tmp_path/'videocls', ignore=['__pycache__'])
    def diffs(c, pre=''):
        out = [f'{pre}{f}' for f in c.diff_files + c.left_only + c.right_only]
        for name, sub in c.subdirs.items(): out += diffs(sub, f'{pre}{name}/')
        return out
    assert diffs(cmp) == [], 'nbdev-export would change these files in videocls/: run nbdev-export and commit'
