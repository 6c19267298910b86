#!/usr/bin/env bash
# Builds the libFuzzer targets with ASan and runs each for a bounded time.
# usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]   (default 20 s, all targets)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-20}; shift || true
targets=("$@"); [ ${#targets[@]} -gt 0 ] || targets=(FuzzInbound FuzzVICI FuzzSetkey FuzzSwanctl FuzzIKEMessage FuzzIKEEngine)
mkdir -p .build-fuzz
# -O (libFuzzer's advice: sanitizers on optimised code) with the debug configuration's checks:
# at -Onone the engine's generic code (swift-asn1, swift-certificates, collections) spent most of
# each input in metadata lookups and coroutine-frame mallocs, which ASan makes dearer still.
# -assert-config Debug keeps assert() on; precondition and bounds checks stay on at -O anyway.
if ! swift build --package-path Fuzz --scratch-path .build-fuzz -c debug \
        -Xswiftc -sanitize=fuzzer,address -Xswiftc -use-ld=lld \
        -Xswiftc -O -Xswiftc -assert-config -Xswiftc Debug >.build-fuzz/build.log 2>&1; then
    echo "fuzz: build failed"; grep -E 'error' .build-fuzz/build.log | head -40; exit 1
fi
failed=0
for t in "${targets[@]}"; do
    corpus="Fuzz/corpus/$t"; artifacts=".build-fuzz/artifacts/$t/"
    mkdir -p "$corpus" "Fuzz/corpus-run/$t" "$artifacts"
    echo "fuzz: $t for ${secs}s"
    # New inputs go to corpus-run (not committed); the checked-in corpus seeds every run.
    set +e
    LSAN_OPTIONS="suppressions=Fuzz/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}" \
    .build-fuzz/debug/"$t" -max_total_time="$secs" -max_len=4096 -print_final_stats=1 \
        -artifact_prefix="$artifacts" "Fuzz/corpus-run/$t" "$corpus" >".build-fuzz/$t.log" 2>&1
    rc=$?
    set -e
    grep -E 'stat::number_of_executed_units|stat::peak_rss_mb|ERROR|Done' ".build-fuzz/$t.log" || true
    if [ $rc -ne 0 ] || ls "$artifacts" | grep -q .; then
        echo "fuzz: $t FAILED (exit $rc); log .build-fuzz/$t.log, inputs in $artifacts:"
        ls "$artifacts"; tail -40 ".build-fuzz/$t.log"
        failed=1
    fi
done
exit $failed
