#!/usr/bin/env bash
# Prepares a Debian 12 machine to build and test Tern, then builds it.
#   scripts/setup.sh [--release] [--no-build]
# Idempotent and quick when everything is present (CI runs it on every run): apt and pip are only
# called for what is missing. Needs root for the apt step (as CI and the dev machines are).
set -euo pipefail
cd "$(dirname "$0")/.."

config=debug build=1
for arg in "$@"; do
    case "$arg" in
        --release) config=release ;;
        --no-build) build=0 ;;
        -h|--help) sed -n '2,5p' "$0"; exit 0 ;;
        *) echo "setup.sh: unknown argument '$arg'" >&2; exit 64 ;;
    esac
done

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

# ---- Debian packages ----------------------------------------------------------------------------
APT_PACKAGES=(
    strongswan-charon strongswan-swanctl libcharon-extra-plugins libstrongswan-standard-plugins
    libstrongswan-extra-plugins strongswan-pki
    wireguard-go wireguard-tools
    iperf3 tshark tcpdump nftables iptables conntrack iproute2 iputils-ping procps
    libssl-dev openssl libipsec-mb-dev python3 python3-pip gcc
    dpkg-dev lintian
)
missing=()
for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    say "Debian packages: all ${#APT_PACKAGES[@]} present"
elif [ "$(id -u)" -ne 0 ]; then
    echo "setup.sh: missing Debian packages (${missing[*]}); run as root to install them" >&2
    exit 1
else
    say "Debian packages: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # tshark's wireshark-common asks whether non-root users may capture: answer no, without a prompt.
    echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends -o Dpkg::Options::=--force-confdef \
        -o Dpkg::Options::=--force-confold "${missing[@]}" </dev/null
    # Debian starts services on install; the tests run their own daemons in namespaces.
    if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
        systemctl disable --now strongswan-starter strongswan iperf3 >/dev/null 2>&1 || true
    fi
fi

# ---- Python packages (integration tests and referees) --------------------------------------------
PY=${PYTHON:-python3}
if "$PY" - <<'PYEOF' 2>/dev/null
import importlib.util, sys
need = ["pytest", "scapy", "vici", "pytest_timeout"]
sys.exit(0 if all(importlib.util.find_spec(m) for m in need) else 1)
PYEOF
then
    say "Python packages: pytest, scapy, vici, pytest-timeout present"
else
    say "Python packages: installing pytest scapy vici pytest-timeout"
    pipargs=(-q --disable-pip-version-check)
    # Debian's own python3 refuses system-wide pip installs unless told otherwise.
    if "$PY" -c 'import sys, sysconfig, os; sys.exit(0 if os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")) else 1)'; then
        pipargs+=(--break-system-packages)
    fi
    "$PY" -m pip install "${pipargs[@]}" "pytest>=7" "scapy>=2.5" "vici>=5.9" pytest-timeout
fi

# ---- Swift ---------------------------------------------------------------------------------------
if ! command -v swift >/dev/null 2>&1; then
    if [ -x /opt/swift/usr/bin/swift ]; then
        export PATH=/opt/swift/usr/bin:$PATH
    else
        cat >&2 <<'MSG'
setup.sh: Swift not found (neither `swift` on PATH nor /opt/swift/usr/bin/swift).
Install a Swift 6.1+ toolchain for Linux, put its usr/bin on PATH (or unpack it to /opt/swift),
then run this script again.
MSG
        exit 1
    fi
fi
say "Swift: $(swift --version 2>/dev/null | head -1)"

if [ "$build" -eq 1 ]; then
    say "swift build -c $config"
    swift build -c "$config"
    say "built: $(swift build -c "$config" --show-bin-path)/{ternd,tern}"
fi
