#!/bin/sh
# stress_check.sh LIB BACKEND SECONDS: Debian's stress-ng memory stressors run on arcalloc
# (LD_PRELOAD) for a bounded time and must complete without a failure.
set -u
lib=$1
backend=$2
seconds=$3
command -v stress-ng >/dev/null || { echo "stress-ng is missing (Debian package stress-ng)"; exit 1; }
# Proof that arcalloc is loaded into stress-ng: an unknown backend draws its warning.
ARCALLOC_BACKEND=no-such LD_PRELOAD=$lib stress-ng --malloc 1 --malloc-ops 1000 --timeout 5s \
    >/dev/null 2>"${TMPDIR:-/tmp}/stress-probe.$$" || true
if ! grep -q ARCALLOC_BACKEND "${TMPDIR:-/tmp}/stress-probe.$$"; then
    echo "arcalloc did not load into stress-ng"
    rm -f "${TMPDIR:-/tmp}/stress-probe.$$"
    exit 1
fi
rm -f "${TMPDIR:-/tmp}/stress-probe.$$"
out=$(ARCALLOC_BACKEND=$backend LD_PRELOAD=$lib stress-ng --malloc 2 --malloc-bytes 64M \
    --malloc-thresh 65536 --tsearch 1 --tree 1 --list 1 --hsearch 1 --heapsort 1 \
    --timeout "${seconds}s" --metrics-brief 2>&1)
rc=$?
echo "$out" | grep -E "malloc |tsearch |tree |list |hsearch |heapsort " | grep -v metrc: | head -8
echo "$out" | tail -3
if [ $rc != 0 ] || ! echo "$out" | grep -q "successful run completed"; then
    echo "stress-ng failed under arcalloc ($backend), status $rc"
    echo "$out" | grep -iE "fail|error|abort|signal" | head -10
    exit 1
fi
echo "stress-ng: ${seconds}s of memory stressors on arcalloc ($backend), no failure"
