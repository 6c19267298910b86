#!/usr/bin/env bash
# Per-packet cost of Tern's data plane against the bare AEAD on the same 1400 bytes, with heap
# allocations counted (glibc's allocator interposed). Builds release first.
#   bench/micro.sh [PACKETS_PER_ROUND]     (default 200000)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v swift >/dev/null 2>&1 || export PATH=/opt/swift/usr/bin:$PATH
swift build -c release --product tern-microbench >/dev/null
exec "$(swift build -c release --show-bin-path)/tern-microbench" "${1:-200000}"
