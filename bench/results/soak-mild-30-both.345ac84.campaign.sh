#!/bin/bash
# Interleaved A/B mild soaks, --driver both, 30 windows, seeds in $SEEDS; A and B are git archives.
# usage: campaign.sh TAG HASH_A HASH_B
TAG=$1; HA=$2; HB=$3
OUT=/work/wt-lean2/bench/results
LOG=/tmp/lean2/campaign-$TAG.log
for seed in ${SEEDS:-1 2 3}; do
  for V in A B; do
    H=$([ $V = A ] && echo $HA || echo $HB)
    echo "$(date -u +%H:%M:%S) start $V $H seed $seed load $(cut -d' ' -f1-3 /proc/loadavg)" >> $LOG
    ( cd /tmp/lean2/$V && PYTHONPATH=/tmp/lean2/$V/src nice /work/wt-lean2/.venv/bin/python bench/soak.py --windows 30 --profile mild --block-time 0.2 --epoch-length 20 \
        --driver both --seed $seed --workdir /tmp/lean2/camp-$TAG/$V-$seed --json $OUT/soak-mild-30-both.$H.$TAG.seed$seed.json > $OUT/soak-mild-30-both.$H.$TAG.seed$seed.out 2>&1 )
    echo "$(date -u +%H:%M:%S) end   $V $H seed $seed rc $? load $(cut -d' ' -f1-3 /proc/loadavg)" >> $LOG
  done
done
echo done >> $LOG
