#!/usr/bin/env bash
# The whole test suite: setup, build, unit tests, bounded fuzzing, namespace integration tests.
#   scripts/test.sh                 everything (CI runs this through .ci/run)
# Env: FUZZ_SECONDS (default 20 per target), PYTEST_ARGS (extra pytest arguments),
#      TERN_BIN_DIR (binaries the integration tests run; default .build/debug).
# Exits non-zero if any step failed; the last line summarises every step.
set -uo pipefail
cd "$(dirname "$0")/.."
command -v swift >/dev/null 2>&1 || export PATH=/opt/swift/usr/bin:$PATH

results=() failed=0 t_all=$SECONDS
step() {   # step NAME COMMAND...
    local name=$1; shift
    local t0=$SECONDS
    printf '\n\033[1m=== %s: %s\033[0m\n' "$name" "$*"
    "$@"
    local rc=$?
    local dt=$((SECONDS - t0))
    if [ $rc -eq 0 ]; then results+=("$name ok (${dt}s)")
    else results+=("$name FAILED rc=$rc (${dt}s)"); failed=$((failed + 1)); fi
    return $rc
}
summary() {
    echo
    echo "=== test.sh summary ($((SECONDS - t_all))s)"
    for r in "${results[@]}"; do echo "  $r"; done
    if [ $failed -eq 0 ]; then echo "test.sh: all ${#results[@]} steps passed"
    else echo "test.sh: $failed of ${#results[@]} steps FAILED"; fi
}
trap summary EXIT

step setup bash scripts/setup.sh --no-build || exit 1
step build swift build || exit 1
step unit-tests swift test
step fuzz bash scripts/fuzz.sh "${FUZZ_SECONDS:-20}"
# -p no:cacheprovider: no .pytest_cache in the work tree. Exit code 5 (no tests collected) fails too.
# shellcheck disable=SC2086
step integration python3 -m pytest -q -p no:cacheprovider -rfE --tb=short tests/integration ${PYTEST_ARGS:-}
[ $failed -eq 0 ]
