#!/bin/sh
# run.sh FUZZER SECONDS CORPUS_DIR SEED_DIR [libFuzzer options...]
# Runs one libFuzzer target for SECONDS, growing CORPUS_DIR from SEED_DIR,
# and prints one line: target, seconds, executions, corpus size, verdict.
set -u
fuzzer=$1 secs=$2 corpus=$3 seeds=$4
shift 4
name=$(basename "$fuzzer")
mkdir -p "$corpus" "$(dirname "$corpus")/artifacts"
log=$(mktemp /tmp/uffdd-fuzz.XXXXXX)
"$fuzzer" -max_total_time="$secs" -print_final_stats=1 -timeout=10 \
	-rss_limit_mb=2048 \
	-artifact_prefix="$(dirname "$corpus")/artifacts/$name-" \
	"$@" "$corpus" "$seeds" >"$log" 2>&1
rc=$?
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
units=$(ls "$corpus" | wc -l)
if [ "$rc" = 0 ]; then
	echo "$name: ${secs} s, ${execs:-?} executions, corpus $units files: clean"
else
	tail -60 "$log"
	echo "$name: FAILED after ${execs:-?} executions (exit $rc); see $(dirname "$corpus")/artifacts"
fi
rm -f "$log"
exit "$rc"
