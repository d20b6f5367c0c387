#!/usr/bin/env bash
# tests/fuzz/run_fuzz.sh: runs every libFuzzer harness for a bounded time (issue 6, CI's fuzzing
# step). Configures a clang build dir when there is none, builds the harnesses, runs each for
# SECONDS on a fresh copy of its seed corpus (plus the reproducers kept in tests/fuzz/crashes),
# prints its executions and coverage, and ends with one plain line: "N passed, M failed".
# A harness that crashes (a model disagreement, a sanitizer report, a timeout or an OOM) fails;
# its reproducer is kept under BUILD_DIR/fuzz-run/NAME/artifacts/.
#
#   tests/fuzz/run_fuzz.sh BUILD_DIR SECONDS [HARNESS...]
#   FUZZ_ARGS="-jobs=2 -workers=2" tests/fuzz/run_fuzz.sh build-fuzz 60 fuzz_malloc
#   FUZZ_PARALLEL=1 tests/fuzz/run_fuzz.sh build-fuzz 45     # one harness at a time
#   FUZZ_MESON_ARGS=-Dsecure=true tests/fuzz/run_fuzz.sh build-fuzz-secure 30 fuzz_malloc
# FUZZ_MESON_ARGS: extra meson options, used when BUILD_DIR is configured (the secure variant).
# FUZZ_PARALLEL: harnesses run at once (default: the cores nproc reports).
set -u

usage() {
    echo "usage: $0 BUILD_DIR SECONDS [HARNESS...]" >&2
    exit 2
}
[ $# -ge 2 ] || usage
build=$1
seconds=$2
shift 2
case $seconds in '' | *[!0-9]*) usage ;; esac
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
all=(fuzz_byte_tlsf fuzz_byte_buddy fuzz_byte_slab fuzz_pages fuzz_ids fuzz_malloc)
harnesses=("$@")
[ ${#harnesses[@]} -gt 0 ] || harnesses=("${all[@]}")

if [ ! -f "$build/build.ninja" ]; then
    echo "== configuring $build (clang, harnesses bring their own sanitizers)"
    setup_log=$(mktemp)
    # shellcheck disable=SC2086 # FUZZ_MESON_ARGS is a list of meson options
    if ! CC=${CC:-clang} CXX=${CXX:-clang++} meson setup "$build" "$top" -Db_sanitize=none \
        -Dbuildtype=debugoptimized ${FUZZ_MESON_ARGS:-} >"$setup_log" 2>&1; then
        tail -20 "$setup_log"
        rm -f "$setup_log"
        echo "0 passed, 1 failed"
        exit 1
    fi
    rm -f "$setup_log"
fi
build=$(cd "$build" && pwd)
targets=()
for h in "${harnesses[@]}"; do targets+=("tests/fuzz/$h"); done
if ! ninja -C "$build" "${targets[@]}" >"$build/fuzz-build.log" 2>&1; then
    tail -20 "$build/fuzz-build.log"
    echo "run_fuzz.sh: the harnesses did not build: $build needs clang with -fsanitize=fuzzer," \
        "and tests/meson.build must include subdir('fuzz')" >&2
    echo "0 passed, ${#harnesses[@]} failed"
    exit 1
fi

# SECONDS of fuzzing, plus start-up and the final corpus pass; a harness that hangs is stopped.
limit=$((seconds + 120))

# Runs harness $1 in its own work directory and writes its one result line, then the lines that
# explain a failure, to $work/result; its exit status is the harness's verdict.
fuzz_one() {
    local h=$1 work="$build/fuzz-run/$1"
    rm -rf "$work"
    mkdir -p "$work/corpus" "$work/artifacts"
    cp "$here/corpus/$h"/* "$work/corpus/" 2>/dev/null
    local extra=()
    [ -d "$here/crashes/$h" ] && extra+=("$here/crashes/$h")
    local log="$work/fuzz.log"
    # shellcheck disable=SC2086 # FUZZ_ARGS is a list of libFuzzer flags
    timeout "$limit" "$build/tests/fuzz/$h" -max_total_time="$seconds" -timeout=60 \
        -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$work/artifacts/" \
        ${FUZZ_ARGS:-} "$work/corpus" "${extra[@]}" >"$log" 2>&1
    local rc=$?
    local execs status cov ft corp crashes line
    execs=$(grep -E '^stat::number_of_executed_units:' "$log" | tail -1 | awk '{print $2}')
    status=$(grep -E '^#[0-9]+' "$log" | tail -1)
    cov=$(echo "$status" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
    ft=$(echo "$status" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
    corp=$(echo "$status" | sed -n 's/.* corp: \([0-9]*\/[0-9A-Za-z]*\).*/\1/p')
    crashes=$(find "$work/artifacts" -type f | sort)
    line="$h: ${execs:-?} executions in ${seconds}s, cov ${cov:-?}, ft ${ft:-?}, corpus ${corp:-?}"
    if [ $rc -eq 0 ] && [ -z "$crashes" ]; then
        echo "== $line: ok" >"$work/result"
        return 0
    fi
    {
        echo "== $line: FAILED (exit $rc)"
        grep -E 'model disagrees|ERROR: |SUMMARY: |arcalloc: ' "$log" | head -5 | sed 's/^/   /'
        for c in $crashes; do echo "   reproducer kept: $c"; done
        echo "   log: $log"
    } >"$work/result"
    return 1
}

# FUZZ_PARALLEL harnesses at once (default: one per core): each is one process on one core, so
# CI's fuzzing step takes its harnesses' time divided by the cores instead of their sum.
parallel=${FUZZ_PARALLEL:-$(nproc 2>/dev/null || echo 1)}
case $parallel in '' | *[!0-9]* | 0) parallel=1 ;; esac
running=0
for h in "${harnesses[@]}"; do
    if [ "$running" -ge "$parallel" ]; then
        wait -n
        running=$((running - 1))
    fi
    fuzz_one "$h" &
    running=$((running + 1))
done
wait

passed=0
failed=0
failures=()
for h in "${harnesses[@]}"; do
    result="$build/fuzz-run/$h/result"
    if [ -f "$result" ] && head -1 "$result" | grep -q ': ok$'; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        failures+=("$h")
    fi
    cat "$result" 2>/dev/null || echo "== $h: FAILED (no result)"
done
[ ${#failures[@]} -gt 0 ] && echo "failed: ${failures[*]}"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
