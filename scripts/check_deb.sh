#!/usr/bin/env bash
# The Debian packages, checked as a user meets them (issue 21; run by
# .ci/run, needs root and Debian's package mirror for the first run):
#   - each .deb is lintian-clean (no error, no warning);
#   - each one's contents: binary of its architecture, unit, conffile, model;
#   - the amd64 one installed with `dpkg -i` into a throw-away Debian 12
#     root (debootstrap --variant=minbase, cached in target/deb-root), then
#     `edgepaint generate` and `edgepaint kiosk` without flags as a user and
#     as the service would run it, files under the package's paths; then
#     `dpkg -r` and `dpkg -P` leave what Debian policy says.
#
#   scripts/check_deb.sh [--arm64 BINARY] [--armhf BINARY]
#
# The packages are packed by scripts/deb.sh (as scripts/cross.sh does) from
# the binaries at hand: amd64 from target/debug/edgepaint (cargo test's
# build), the ARM ones from the binaries given (a cross-built test build is
# enough: the check is about the package, not the binary's speed).
set -euo pipefail
cd "$(dirname "$0")/.."

declare -A bins=([amd64]=target/debug/edgepaint)
while [ $# -gt 0 ]; do
  case "$1" in
    --arm64|--armhf) bins[${1#--}]=$2; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "error: unknown option $1" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "error: check_deb.sh installs into a chroot: run as root" >&2; exit 2; }
fail() { echo "FAIL: $*" >&2; exit 1; }

need=""
for tool in lintian debootstrap; do command -v "$tool" >/dev/null || need="$need $tool"; done
if [ -n "$need" ]; then
  apt-get update -q >/dev/null
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $need >/dev/null
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
[ -x target/debug/edgepaint ] || cargo build --locked --quiet
host=target/debug/edgepaint
"$host" convert --model models/scenes --out "$tmp/scenes-nnef" > /dev/null

# --- pack, lint, list -------------------------------------------------------
declare -A board=([amd64]=board/desktop.toml [arm64]=board/pi-hdmi-fb0.toml [armhf]=board/pi-hdmi-fb0.toml)
declare -A machine=([amd64]="X86-64" [arm64]="AArch64" [armhf]="ARM")
for arch in "${!bins[@]}"; do
  model=$tmp/scenes-nnef
  [ "$arch" = amd64 ] && model=models/scenes
  # deb.sh's own choice of board file, checked below.
  deb=$(scripts/deb.sh --arch "$arch" --binary "${bins[$arch]}" --model "$model" --out "$tmp/debs")
  echo "== $deb"
  lint=$(lintian "$deb" 2>&1 | grep -E '^[EW]: ' || true)
  [ -z "$lint" ] || fail "lintian on $deb:"$'\n'"$lint"
  [ "$(dpkg-deb -f "$deb" Architecture)" = "$arch" ] || fail "$deb: Architecture is not $arch"
  files=$(dpkg-deb -c "$deb" | awk '{print $NF}')
  for f in ./usr/bin/edgepaint ./lib/systemd/system/edgepaint-kiosk.service ./etc/edgepaint/board.toml \
           ./usr/share/edgepaint/models/scenes/model.toml ./usr/share/edgepaint/boards/pi-st7789-240x240.toml \
           ./usr/share/man/man1/edgepaint-kiosk.1.gz ./usr/share/doc/edgepaint/copyright; do
    grep -qxF "$f" <<< "$files" || fail "$deb has no $f"
  done
  grep -q 'board.toml$' <(dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles) || fail "$deb: board.toml is not a conffile"
  dpkg-deb -x "$deb" "$tmp/x-$arch"
  readelf -h "$tmp/x-$arch/usr/bin/edgepaint" | grep -q "Machine: .*${machine[$arch]}" || fail "$deb: the binary is not ${machine[$arch]}"
  cmp -s "${board[$arch]}" "$tmp/x-$arch/etc/edgepaint/board.toml" || fail "$deb: /etc/edgepaint/board.toml is not ${board[$arch]}"
  # Board builds carry the NNEF model (they have no ONNX parser).
  graphs=$(grep -o '"[a-z_.0-9]*\.\(onnx\|nnef\.tgz\)"' "$tmp/x-$arch/usr/share/edgepaint/models/scenes/model.toml" | sort -u)
  case "$arch" in
    amd64) grep -q 'onnx"' <<< "$graphs" || fail "$deb: amd64 should carry the ONNX model" ;;
    *) { grep -q 'nnef.tgz"' <<< "$graphs" && ! grep -q 'onnx"' <<< "$graphs"; } || fail "$deb: not the NNEF model: $graphs" ;;
  esac
  grep -q '^ExecStart=/usr/bin/edgepaint kiosk --board /etc/edgepaint/board.toml' "$tmp/x-$arch/lib/systemd/system/edgepaint-kiosk.service" \
    || fail "$deb: the unit does not run /usr/bin/edgepaint on /etc/edgepaint/board.toml"
done

# --- install into a throw-away Debian root ----------------------------------
base=target/deb-root/bookworm
if [ ! -f "$base/.complete" ]; then
  rm -rf "$base"
  mkdir -p "$base"
  debootstrap --variant=minbase bookworm "$base" "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" > "$tmp/debootstrap.log" 2>&1 \
    || { tail -20 "$tmp/debootstrap.log"; fail "debootstrap"; }
  touch "$base/.complete"
fi
root=$tmp/root
cp -a "$base" "$root"
cp "$tmp/debs/"*_amd64.deb "$root/tmp/edgepaint.deb"
cp scripts/check_deb_installed.sh "$root/tmp/check_installed.sh"
# A private mount namespace: /proc and /dev for the chroot vanish with it.
unshare --mount --fork sh -c '
  set -e
  mount -t proc proc "$1/proc"
  mount --rbind /dev "$1/dev"
  chroot "$1" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root sh /tmp/check_installed.sh
' sh "$root" || fail "the installed package (see above)"
echo "check_deb: the packages hold (${!bins[*]})"
