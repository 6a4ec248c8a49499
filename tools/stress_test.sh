#!/bin/bash
# Runs the README test command RUNS times in a row with one busy-loop CPU hog per core beside it (issue 9).
# Usage: tools/stress_test.sh CLONE_DIR LOG_FILE [RUNS]   (one line per run in LOG_FILE, full output in LOG_FILE.runN)
DIR=$1; LOG=$2; RUNS=${3:-5}
cd "$DIR"
for c in $(seq $(nproc)); do python3 -c "while True: pass" & echo $! >> /tmp/hogs.$$; done
for i in $(seq $RUNS); do
  start=$(date +%s)
  make test > "$LOG.run$i" 2>&1; rc=$?
  echo "run $i rc=$rc $(( $(date +%s) - start ))s $(grep -E '[0-9]+ (passed|failed)' "$LOG.run$i" | tail -1)" >> "$LOG"
done
kill $(cat /tmp/hogs.$$); rm /tmp/hogs.$$
echo finished >> "$LOG"
