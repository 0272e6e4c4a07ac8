#!/bin/sh
# check.sh BUILD TEST... : reserve hugepages, run every test binary, print
# one summary line "N passed, N failed", give the hugepages back.
set -u
build=$1
shift
state=$(mktemp /tmp/uffdd-hugepages.XXXXXX)
sh tools/hugepages.sh reserve "${UFFDD_TEST_HUGEPAGES:-256}" "$state" || exit 1
trap 'sh tools/hugepages.sh restore "$state"' EXIT INT TERM
export UFFDD_BUILD="$build"
pass=0 fail=0 skip=0 failed_bins=""
log=$(mktemp /tmp/uffdd-check.XXXXXX)
for t in "$@"; do
	[ -x "$t" ] || continue
	echo "=== $t"
	"$t" > "$log" 2>&1
	rc=$?
	cat "$log"
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
	if [ "$rc" = 77 ]; then
		skip=$((skip + 1))
		continue
	fi
	if [ -n "$line" ]; then
		p=$(echo "$line" | sed -E 's/^([0-9]+) passed.*/\1/')
		f=$(echo "$line" | sed -E 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/')
		s=$(echo "$line" | sed -nE 's/.*, ([0-9]+) skipped.*/\1/p')
		pass=$((pass + p)) fail=$((fail + f)) skip=$((skip + ${s:-0}))
		if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
			fail=$((fail + 1))
		fi
	elif [ "$rc" = 0 ]; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
	fi
	[ "$rc" != 0 ] && failed_bins="$failed_bins $t"
done
rm -f "$log"
echo
[ -n "$failed_bins" ] && echo "failed:$failed_bins"
if [ "$skip" -gt 0 ]; then
	echo "$pass passed, $fail failed, $skip skipped"
else
	echo "$pass passed, $fail failed"
fi
[ "$fail" = 0 ]
