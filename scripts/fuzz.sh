#!/usr/bin/env bash
# Builds the libFuzzer targets with ASan and runs each for a bounded time.
# usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]   (default 20 s, all targets)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-20}; shift || true
targets=("$@"); [ ${#targets[@]} -gt 0 ] || targets=(FuzzInbound FuzzVICI FuzzSetkey)
swift build --package-path Fuzz --scratch-path .build-fuzz -c debug \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -use-ld=lld >/dev/null
for t in "${targets[@]}"; do
    corpus="Fuzz/corpus/$t"; mkdir -p "$corpus" Fuzz/corpus-run/"$t"
    echo "fuzz: $t for ${secs}s"
    .build-fuzz/debug/"$t" -max_total_time="$secs" -max_len=4096 -print_final_stats=1 \
        Fuzz/corpus-run/"$t" "$corpus" 2>&1 | grep -E 'stat::number_of_executed_units|ERROR|crash|Done' || true
    if ls crash-* leak-* timeout-* >/dev/null 2>&1; then echo "fuzz: $t found a failing input"; exit 1; fi
done
