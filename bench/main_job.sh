#!/usr/bin/env bash
# README's main command, as a new user runs it: a fresh clone, the command exactly as README writes it, its wall time
# (install included), its whole output and what it wrote (metrics.json, the list of files). The committed result is
# what README's "trimmed output" is cut from.
# Usage, from the repository root: bash bench/main_job.sh bench/results/main_job_cpu2_$(date +%F)
set -eo pipefail
out=$(realpath -m "${1:?give the folder for the results}"); mkdir -p "$out"
main_cmd=$(sed -n '/<!-- main-command -->/,/^```$/p' README.md | grep -v -e '^```' -e '<!--')
work=$(mktemp -d); git clone -q . "$work/videocls"
{ echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"; echo "commit: $(git rev-parse HEAD)"; echo "machine: $(nproc) CPUs, $(python3 --version)"
  echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"; echo "command: $main_cmd"; } | tee "$out/env.txt"
t0=$(date +%s)
(cd "$work/videocls" && bash -c "$main_cmd") > "$work/output.txt" 2>&1
# pip's output cut to its last line; then everything videocls printed
awk '/^videocls-run\/data\/videos ->/ {on=1} on || /^Successfully installed/' "$work/output.txt" > "$out/output.txt"
echo "wall: $(( $(date +%s) - t0 )) s, install included" | tee -a "$out/env.txt"
# the exported temporal model (convlstm:stride=8) on new clips: one of each class from a group it never saw (g11, the dataset's seed), and 20 clips of
# new scenes (another dataset seed); README's videocls-predict example and its counts come from here
(cd "$work/videocls" && . .venv/bin/activate && python3 -c "from videocls.data.synthetic import make_synthetic_videos as m
m('new-group', n_groups=11, clips_per_group=1, seed=42); m('new-scenes', n_groups=2, clips_per_group=1, seed=7)" \
  && videocls-predict videocls-run/convlstm_stride=8.pkl new-group/*/*_g11_c01.avi && videocls-predict videocls-run/convlstm_stride=8.pkl new-scenes/*/*.avi) > "$out/predict.txt" 2>&1
python3 - "$out/predict.txt" <<'PY' | tee -a "$out/predict.txt"
import re, sys
rows = [l for l in open(sys.argv[1]) if re.match(r'.*v_(\w+?)_g\d+_c\d+\.avi: ', l)]
for what, pat in (('new group (g11)', 'new-group/'), ('new scenes (seed 7)', 'new-scenes/')):
    got = [re.match(r'.*v_(\w+?)_g\d+_c\d+\.avi: (\w+)', l).groups() for l in rows if pat in l]
    print(f'{what}: {sum(a == b for a, b in got)} of {len(got)} right')
PY
cp "$work/videocls/videocls-run/metrics.json" "$work/videocls/videocls-run/convlstm_stride=8-confusion.png" "$work/videocls/videocls-run/convlstm_stride=8-results.png" "$out/"
ls "$work/videocls/videocls-run" > "$out/files.txt"
rm -rf "$work"
