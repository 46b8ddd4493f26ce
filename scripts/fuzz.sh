#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz: one per parser of outside data) with
# clang, AddressSanitizer and UndefinedBehaviorSanitizer, and runs each for N
# seconds on a temporary copy of its seed corpus (tests/fuzz/corpus/<target>),
# with its dictionary where there is one. Any finding fails: a crash, a
# sanitizer report, a leak, a broken promise the harness checks, a hang (an
# input over 30 s) or one allocation over 128 MiB (a size field trusted).
#
#   scripts/fuzz.sh [SECONDS [TARGET...]]     default: 30 seconds, every target
#
# Prints per target the executions, executions per second, the coverage
# libFuzzer reached (cov: edges, ft: features) and the corpus it ended with.
# A finding's input and log are kept in <build>/fuzz-findings/<target>/;
# replay an input with <build>/tests/fuzz/fuzz_<target> <file>.
# CLGRAD_FUZZ_BUILD_DIR picks the build directory (default build-fuzz).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${CLGRAD_FUZZ_BUILD_DIR:-$root/build-fuzz}
seconds=${1:-30}
[ $# -gt 0 ] && shift
all=(idx safetensors model csv cache store text)
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${all[@]}")

command -v clang >/dev/null || { echo "fuzz: clang is missing (scripts/setup.sh installs it)" >&2; exit 1; }
echo "== fuzz build ($build)"
# -O1 with assertions on: the library's internal invariants are checked too.
CC=clang cmake -S "$root" -B "$build" -DCLGRAD_FUZZ=ON -DCLGRAD_BUILD_TESTS=OFF \
  -DCLGRAD_BUILD_EXAMPLES=OFF -DCLGRAD_MPI=OFF -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS_DEBUG="-g -O1" >/dev/null
cmake --build "$build" -j"$(nproc)" --target fuzz_all >/dev/null

# handle_abort: a harness's broken-promise abort is a finding with its input
# saved; new_delete_type_mismatch=0 as in scripts/test.sh (clFFT, not ours).
export ASAN_OPTIONS=detect_leaks=1:handle_abort=1:new_delete_type_mismatch=0
export LSAN_OPTIONS="suppressions=$root/tests/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

# The targets' scratch files go under $work too (TMPDIR), in memory where /dev/shm
# exists: every input is written to a file, and libFuzzer's exit skips their cleanup.
shm=/dev/shm
[ -d "$shm" ] && [ -w "$shm" ] || shm=${TMPDIR:-/tmp}
work=$(mktemp -d "$shm/clgrad-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/tmp"
export TMPDIR=$work/tmp
failed=()
summary=()
for t in "${targets[@]}"; do
  bin=$build/tests/fuzz/fuzz_$t
  [ -x "$bin" ] || { echo "fuzz: no target '$t' (have: ${all[*]})" >&2; exit 1; }
  mkdir -p "$work/$t/corpus" "$work/$t/artifacts"
  cp "$root/tests/fuzz/corpus/$t/"* "$work/$t/corpus/"
  dict=()
  [ -f "$root/tests/fuzz/$t.dict" ] && dict=(-dict="$root/tests/fuzz/$t.dict")
  echo "== fuzz_$t: ${seconds}s"
  rc=0
  "$bin" -max_total_time="$seconds" -print_final_stats=1 -timeout=30 -malloc_limit_mb=128 \
    -rss_limit_mb=2048 -artifact_prefix="$work/$t/artifacts/" "${dict[@]}" "$work/$t/corpus" \
    >"$work/$t/log" 2>&1 || rc=$?
  stat() { sed -n "s/^stat::$1: *//p" "$work/$t/log" | tail -1; }
  execs=$(stat number_of_executed_units)
  rate=$(stat average_exec_per_sec)
  last=$(grep -E '^#[0-9]+' "$work/$t/log" | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.* corp: \([^ ]*\).*/\1/p' <<<"$last")
  line=$(printf '%-12s %s  execs %-9s exec/s %-7s cov %-6s ft %-6s corpus %s' "$t" \
         "$([ $rc -eq 0 ] && echo "ok     " || echo "FINDING")" "${execs:-?}" "${rate:-?}" "${cov:-?}" \
         "${ft:-?}" "${corp:-?}")
  echo "$line"
  summary+=("$line")
  if [ $rc -ne 0 ]; then
    failed+=("$t")
    keep=$build/fuzz-findings/$t
    mkdir -p "$keep"
    cp "$work/$t/log" "$keep/log"
    cp "$work/$t/artifacts/"* "$keep/" 2>/dev/null || true
    grep -E 'ERROR|SUMMARY|broken promise|runtime error|Test unit written' "$work/$t/log" | head -10 >&2 || true
    echo "fuzz_$t: finding (exit $rc); input and log in $keep" >&2
  fi
done

echo "== fuzz summary (${seconds}s per target)"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: findings in ${failed[*]}" >&2
  exit 1
fi
