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
cp "$work/videocls/videocls-run/metrics.json" "$out/"
ls "$work/videocls/videocls-run" > "$out/files.txt"
rm -rf "$work"
