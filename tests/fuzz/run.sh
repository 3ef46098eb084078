#!/usr/bin/env bash
# run.sh BUILD SECONDS [JOBS] — runs every libFuzzer target of BUILD (a `make fuzz` tree) for
# SECONDS each, JOBS at a time. Each run first replays its whole kept corpus (tests/fuzz/corpus/
# <name>: seeds and every input that once crashed), then mutates from it; new inputs go to
# BUILD/fuzz-work/<name>, never into the repository. A crash, a leak, a sanitizer report, a
# hang (-timeout) or an out-of-memory (-rss_limit_mb) fails the run and leaves the input in
# BUILD/fuzz-artifacts: copy it into the target's corpus as crash-<what> once fixed.
# Prints, per target: executions, executions/s, coverage (edges), features, corpus size.
set -uo pipefail
build=${1:?usage: run.sh BUILD SECONDS [JOBS]}
seconds=${2:?usage: run.sh BUILD SECONDS [JOBS]}
jobs=${3:-1}
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "$build" && pwd)
work=$build/fuzz-work
artifacts=$build/fuzz-artifacts
rm -rf "$work" && mkdir -p "$work" "$artifacts"

# Allocations past 1 GiB fail (return null) instead of aborting: a parser sized from a number
# in its input then sees std::bad_alloc, which escapes as a reported crash unless the library
# turns it into a clear error, as it must.
export ASAN_OPTIONS=allocator_may_return_null=1:max_allocation_size_mb=1024:detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export OMP_NUM_THREADS=1

run_one() {
  local name=$1 dir=$work/$1
  mkdir -p "$dir/new" "$dir/tmp"
  local status=0
  TMPDIR=$dir/tmp "$build/tests/fuzz/fuzz_$name" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$artifacts/$name-" "$dir/new" "$here/corpus/$name" \
      >"$dir/log" 2>&1 || status=$?
  local execs cov ft corp rate
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$dir/log" | grep -o '[0-9]*$')
  rate=$(grep -o 'exec/s: [0-9]*' "$dir/log" | tail -1 | grep -o '[0-9]*$')
  cov=$(grep -o 'cov: [0-9]*' "$dir/log" | tail -1 | grep -o '[0-9]*$')
  ft=$(grep -o 'ft: [0-9]*' "$dir/log" | tail -1 | grep -o '[0-9]*$')
  corp=$(grep -o 'corp: [0-9]*' "$dir/log" | tail -1 | grep -o '[0-9]*$')
  if [ "$status" = 0 ]; then
    printf '%-16s ok     %10s execs %7s/s  cov %6s  ft %6s  corpus %5s\n' "$name" "${execs:-?}" "${rate:-?}" \
        "${cov:-?}" "${ft:-?}" "${corp:-?}"
  else
    printf '%-16s FAILED (exit %s) after %s execs; the log:\n' "$name" "$status" "${execs:-?}"
    grep -v '^#[0-9]' "$dir/log" | tail -60
    return 1
  fi
}
export -f run_one
export build seconds here work artifacts

targets=$(cd "$here/corpus" && ls)
for t in $targets; do
  [ -x "$build/tests/fuzz/fuzz_$t" ] || { echo "run.sh: no fuzz target fuzz_$t in $build/tests/fuzz (make fuzz builds them)"; exit 2; }
done
echo "fuzzing $(echo $targets | wc -w) targets for ${seconds}s each, $jobs at a time"
printf '%s\n' $targets | xargs -P "$jobs" -I{} bash -c 'run_one {}'
status=$?
[ $status = 0 ] && echo "fuzzing: no crash, leak, hang or sanitizer report" || echo "fuzzing FAILED: inputs in $artifacts"
exit $status
