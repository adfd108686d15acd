#!/bin/bash
# $1 = tree (/tmp/lean2-base or /tmp/lean2-after), $2 = label
tree=$1; label=$2; wd=/tmp/lean2-strace-$label
rm -rf $wd
cd $tree
PYTHONPATH=$tree/src:$tree /work/wt-lean2/.venv/bin/python bench/soak.py --windows 20 --profile mild --block-time 0.2 --epoch-length 20 --driver ours --seed 1 --workdir $wd --json /tmp/lean2-mb/strace-$label.json > /tmp/lean2-mb/strace-$label.out 2>&1 &
soak=$!
for i in $(seq 1 600); do
  pid=$(pgrep -f "$wd/ours/worker.toml run" | head -1)
  [ -n "$pid" ] && grep -q "DAEMON MODE STARTED" $wd/ours/daemon.out 2>/dev/null && break
  sleep 0.1
done
echo "daemon pid $pid"
strace -f -c -p $pid -e trace=fdatasync,fsync,rename,openat,unlink,pwrite64,write,ftruncate -o /tmp/lean2-mb/strace-$label.txt &
wait $soak
sleep 1
cat /tmp/lean2-mb/strace-$label.txt
