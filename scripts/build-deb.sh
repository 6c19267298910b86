#!/usr/bin/env bash
# Builds the Debian package of Tern and checks it with lintian.
#   scripts/build-deb.sh [--debug] [--out DIR] [--no-lintian]
# Writes DIR/tern_<version>_<arch>.deb (DIR defaults to .build-deb/). The binaries are linked with
# the Swift runtime built in (--static-swift-stdlib), so the package depends only on Debian's
# libc, libstdc++, libgcc and libssl. --debug packages the debug build (fast when it is already
# built: only the link is redone; the tests use it); the default is a release build.
# Needs dpkg-dev and lintian (scripts/setup.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

config=release out=.build-deb lint=1
while [ $# -gt 0 ]; do
    case "$1" in
        --debug) config=debug ;;
        --out) out=$2; shift ;;
        --no-lintian) lint=0 ;;
        -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
        *) echo "build-deb.sh: unknown argument '$1'" >&2; exit 64 ;;
    esac
    shift
done
say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
command -v swift >/dev/null 2>&1 || export PATH=/opt/swift/usr/bin:$PATH

version=$(sed -n 's/^public let ternVersion = "\(.*\)"$/\1/p' Sources/TernDaemon/Daemon.swift)
changelog_version=$(sed -n '1s/^tern (\([^)]*\)).*/\1/p' dist/debian/changelog)
if [ -z "$version" ] || [ "$version" != "$changelog_version" ]; then
    echo "build-deb.sh: ternVersion ($version) and dist/debian/changelog ($changelog_version) disagree" >&2
    exit 1
fi
arch=$(dpkg --print-architecture)

# Objects are compiled against the shared Swift modules, whose autolink entries name only
# libFoundation: the static link needs Foundation's own static dependencies named too.
link=(--static-swift-stdlib -Xlinker --start-group)
for l in Foundation CoreFoundation _FoundationICU FoundationEssentials FoundationInternationalization \
         _FoundationCShims _FoundationCollections swiftSynchronization; do
    link+=(-Xlinker "-l$l")
done
link+=(-Xlinker --end-group -Xlinker -z -Xlinker now)   # full RELRO with bind-now, as Debian's hardening does
say "swift build -c $config (ternd, tern; Swift runtime linked in)"
for product in ternd tern; do
    swift build -c "$config" --product "$product" "${link[@]}"
done
bin=$(swift build -c "$config" --show-bin-path)

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root=$stage/tern
say "staging in $root"
install -d -m 0755 "$root/usr/sbin" "$root/usr/bin" "$root/lib/systemd/system" "$root/usr/share/doc/tern" \
    "$root/usr/share/man/man8" "$root/usr/share/man/man5" "$root/usr/share/bash-completion/completions" \
    "$root/usr/share/zsh/vendor-completions" "$root/usr/share/tern" "$root/DEBIAN"
install -m 0755 "$bin/ternd" "$root/usr/sbin/ternd"
install -m 0755 "$bin/tern" "$root/usr/bin/tern"
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$root/usr/sbin/ternd" "$root/usr/bin/tern"

# The unit as in dist/systemd, started from the packaged path.
sed -e 's|/usr/local/bin/ternd|/usr/sbin/ternd|' \
    -e 's|^# Install: .*|# Installed by the tern package; enable with: systemctl enable --now ternd|' \
    dist/systemd/ternd.service > "$root/lib/systemd/system/ternd.service"
chmod 0644 "$root/lib/systemd/system/ternd.service"

# swanctl's folders: keys are private to root.
for d in conf.d x509 x509ca x509crl x509ocsp x509aa x509ac pubkey; do install -d -m 0755 "$root/etc/swanctl/$d"; done
for d in private rsa ecdsa pkcs8 pkcs12; do install -d -m 0700 "$root/etc/swanctl/$d"; done
install -m 0644 dist/debian/swanctl.conf "$root/usr/share/tern/swanctl.conf"

for page in dist/man/*.[0-9]; do
    section=${page##*.}
    gzip -9n < "$page" > "$root/usr/share/man/man$section/$(basename "$page").gz"
done
chmod 0644 "$root"/usr/share/man/man*/*

# bash-completion sources the file: no #! line.
"$root/usr/bin/tern" --generate-completion-script bash | sed '1{/^#!/d}' > "$root/usr/share/bash-completion/completions/tern"
"$root/usr/bin/tern" --generate-completion-script zsh > "$root/usr/share/zsh/vendor-completions/_tern"
chmod 0644 "$root/usr/share/bash-completion/completions/tern" "$root/usr/share/zsh/vendor-completions/_tern"

install -m 0644 dist/debian/copyright "$root/usr/share/doc/tern/copyright"
install -d -m 0755 "$root/usr/share/lintian/overrides"
install -m 0644 dist/debian/lintian-overrides "$root/usr/share/lintian/overrides/tern"
gzip -9n < dist/debian/changelog > "$root/usr/share/doc/tern/changelog.gz"
chmod 0644 "$root/usr/share/doc/tern/changelog.gz"

# Dependencies from the binaries' shared libraries, as dh_shlibdeps computes them.
mkdir -p "$stage/src/debian"
printf 'Source: tern\n\nPackage: tern\nArchitecture: any\n' > "$stage/src/debian/control"
depends=$(cd "$stage/src" && dpkg-shlibdeps -O -e"$root/usr/sbin/ternd" -e"$root/usr/bin/tern" 2>/dev/null |
          sed -n 's/^shlibs:Depends=//p')
[ -n "$depends" ] || { echo "build-deb.sh: dpkg-shlibdeps found no dependencies" >&2; exit 1; }

install -m 0755 dist/debian/postinst dist/debian/postrm "$root/DEBIAN/"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" -e "s/@DEPENDS@/$depends/" \
    dist/debian/control.in > "$root/DEBIAN/control"
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum > DEBIAN/md5sums)
chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/md5sums"

mkdir -p "$out"
deb="$out/tern_${version}_${arch}.deb"
say "dpkg-deb --build $deb"
# xz takes about a minute per debug binary here; the debug package (for tests) uses gzip.
compress=xz
[ "$config" = debug ] && compress=gzip
dpkg-deb --build --root-owner-group "-Z$compress" "$root" "$deb" >/dev/null
dpkg-deb --info "$deb" | sed -n '/Package:/,$p'

if [ "$lint" -eq 1 ]; then
    say "lintian $deb"
    # Exit status 1 only for errors; warnings and informational tags are printed.
    lintian --fail-on error --display-info "$deb" || { echo "build-deb.sh: lintian reports errors" >&2; exit 1; }
fi
case "$deb" in /*) ;; *) deb=$repo/$deb ;; esac
say "built $deb ($config build)"
