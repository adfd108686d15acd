#!/bin/bash
# ours-only mild 30-window soak, seed 1, under the thread_time instrumentation, for archive $1 (A|B), run tag $2
V=$1; T=$2
cd /tmp/lean2/$V && PYTHONPATH=/tmp/lean2/$V/src LEAN2_WRAP=instr_daemon.py LEAN2_PROF_OUT=/tmp/lean2/instr-$V-$T.txt nice /work/wt-lean2/.venv/bin/python /tmp/lean2/soak_prof.py --windows 30 --profile mild --block-time 0.2 --epoch-length 20 --driver ours --seed 1 --workdir /tmp/lean2/wi-$V-$T --json /tmp/lean2/instr-$V-$T.json > /tmp/lean2/instr-$V-$T.out 2>&1
echo "$(date -u +%H:%M:%S) $V $T load $(cut -d' ' -f1-3 /proc/loadavg)" >> /tmp/lean2/instr-ab.log
