#!/usr/bin/env bash
# Pack one edgepaint Debian package from a built binary (scripts/cross.sh
# calls it for each target; scripts/check_deb.sh for its tests).
#
#   scripts/deb.sh --arch arm64 --binary target/aarch64-unknown-linux-gnu/board/edgepaint \
#                  --model target/dist/models-nnef/scenes [--board FILE.toml] [--out dist]
#
# --board: the board file installed as /etc/edgepaint/board.toml (default:
# board/pi-hdmi-fb0.toml on arm64 and armhf, board/desktop.toml on amd64).
#
# dpkg-deb driven by this script rather than cargo-deb: the package carries
# files cargo does not build (the default model, converted to NNEF for the
# board binaries by the host build; the board files; maintainer scripts that
# create the kiosk user), and dpkg-deb is on every Debian machine, so
# packaging needs nothing installed. Layout (docs/install.md):
#   /usr/bin/edgepaint, its man pages (edgepaint.1, edgepaint-kiosk.1, ...)
#   /usr/share/edgepaint/models/scenes     the default model (found without --model)
#   /usr/share/edgepaint/boards/           every board file and filter list
#   /etc/edgepaint/board.toml              the chosen board file (conffile)
#   /lib/systemd/system/edgepaint-kiosk.service   installed, not enabled
#   /lib/udev/rules.d/60-edgepaint.rules   gpio and spi groups for the devices
#   /var/lib/edgepaint                     pictures, frames, feedback log (made by postinst)
set -euo pipefail
cd "$(dirname "$0")/.."

arch="" binary="" model="" board="" out=dist
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
while [ $# -gt 0 ]; do
  case "$1" in
    --arch) arch=$2; shift 2 ;;
    --binary) binary=$2; shift 2 ;;
    --model) model=$2; shift 2 ;;
    --board) board=$2; shift 2 ;;
    --version) version=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "error: unknown option $1" >&2; exit 2 ;;
  esac
done
if [ -z "$board" ]; then
  case "$arch" in amd64) board=board/desktop.toml ;; *) board=board/pi-hdmi-fb0.toml ;; esac
fi
for v in arch binary model; do
  [ -n "${!v}" ] || { echo "error: --$v is required (--help)" >&2; exit 2; }
done
[ -x "$binary" ] || { echo "error: no binary $binary" >&2; exit 2; }
[ -f "$model/model.toml" ] || { echo "error: no model bundle in $model" >&2; exit 2; }
[ -f "$board" ] || { echo "error: no board file $board" >&2; exit 2; }

# The binary must be the architecture the package says.
machine=$(readelf -h "$binary" | sed -n 's/^ *Machine: *//p')
case "$arch:$machine" in
  amd64:*X86-64*|arm64:AArch64|armhf:ARM) ;;
  *) echo "error: $binary is for '$machine', not $arch" >&2; exit 2 ;;
esac
# Depends from what the binary needs: its newest glibc symbol version, and
# libgcc_s when it links it (readelf reads every architecture's ELF).
glibc=$(readelf -V "$binary" | grep -o 'GLIBC_2\.[0-9]*' | sort -V | tail -n 1 | sed 's/GLIBC_//')
depends="adduser"
[ -n "$glibc" ] && depends="libc6 (>= $glibc), $depends"
if readelf -d "$binary" | grep -q 'libgcc_s\.so'; then depends="libgcc-s1, $depends"; fi

name="edgepaint_${version}_${arch}"
stage="target/deb/$name"
rm -rf "$stage"
mkdir -p "$stage/DEBIAN"
install -D -m 0755 "$binary" "$stage/usr/bin/edgepaint"
# Policy 10.1: binaries are stripped (release builds already are; a debug
# build packed for the tests is not). The cross binutils come with the cross gcc.
case "$arch" in amd64) strip=strip ;; arm64) strip=aarch64-linux-gnu-strip ;; armhf) strip=arm-linux-gnueabihf-strip ;; esac
"$strip" --remove-section=.comment --remove-section=.note --strip-unneeded "$stage/usr/bin/edgepaint"
# Man pages from the command-line definition (examples/manpage.rs, host build).
cargo run --locked --quiet --example manpage -- "$stage/usr/share/man/man1"
gzip -9n "$stage"/usr/share/man/man1/*.1
chmod 0644 "$stage"/usr/share/man/man1/*.gz
install -d -m 0755 "$stage/usr/share/edgepaint/models" "$stage/usr/share/edgepaint/boards" "$stage/etc/edgepaint"
cp -r "$model" "$stage/usr/share/edgepaint/models/scenes"
install -m 0644 board/*.toml board/filter-*.txt "$stage/usr/share/edgepaint/boards/"
install -m 0644 "$board" "$stage/etc/edgepaint/board.toml"
install -m 0644 board/filter-*.txt "$stage/etc/edgepaint/"
install -D -m 0644 board/edgepaint-kiosk.service "$stage/lib/systemd/system/edgepaint-kiosk.service"
install -D -m 0644 packaging/debian/udev.rules "$stage/lib/udev/rules.d/60-edgepaint.rules"
install -D -m 0644 packaging/debian/copyright "$stage/usr/share/doc/edgepaint/copyright"
# The board builds are linked non-PIE on purpose (scripts/cross.sh:
# -C relocation-model=static, 0.9 MB smaller; README "Cross-compiling"):
# say so to lintian, with the reason, only when this binary is one.
if readelf -h "$binary" | grep -q 'Type: *EXEC'; then
  install -d "$stage/usr/share/lintian/overrides"
  printf '%s\n' "# Non-PIE on purpose: the board build (relocation-model=static) is 0.9 MB smaller." \
    "edgepaint: hardening-no-pie [usr/bin/edgepaint]" > "$stage/usr/share/lintian/overrides/edgepaint"
  chmod 0644 "$stage/usr/share/lintian/overrides/edgepaint"
fi
install -m 0755 packaging/debian/postinst packaging/debian/prerm packaging/debian/postrm "$stage/DEBIAN/"
find "$stage/usr/share/edgepaint" -type d -exec chmod 0755 {} +
find "$stage/usr/share/edgepaint" -type f -exec chmod 0644 {} +

# Reproducible: every date is the last commit's.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
maintainer="edgepaint developers <edgepaint@users.noreply.github.com>"
{
  echo "edgepaint ($version) stable; urgency=medium"
  echo
  echo "  * edgepaint $version (the project's README lists what changed)."
  echo
  echo " -- $maintainer  $(date -u -R -d "@$SOURCE_DATE_EPOCH")"
} | gzip -9n > "$stage/usr/share/doc/edgepaint/changelog.gz"   # a native package's name
chmod 0644 "$stage/usr/share/doc/edgepaint/changelog.gz"

(cd "$stage/etc" && find . -type f | sed 's#^\.#/etc#' | sort) > "$stage/DEBIAN/conffiles"
(cd "$stage" && find . -path ./DEBIAN -prune -o -type f -print | sed 's#^\./##' | sort | xargs md5sum) > "$stage/DEBIAN/md5sums"
installed_kb=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat > "$stage/DEBIAN/control" <<EOF
Package: edgepaint
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $installed_kb
Depends: $depends
Section: graphics
Priority: optional
Description: offline text-to-image for small boards
 edgepaint turns a prompt into a picture on a Raspberry Pi, a Jetson or any
 Linux box, fully offline: a distilled few-step diffusion model run with
 tract. Prompts come from the command line, a serial line or GPIO buttons;
 the picture and a progress bar are drawn on an SPI panel or the
 framebuffer, and saved as PNG with an invisible watermark.
 .
 The package carries the small default model and the board files. The
 kiosk service (edgepaint-kiosk) is installed but not enabled.
EOF
find "$stage" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
mkdir -p "$out"
dpkg-deb --root-owner-group -Zxz --build "$stage" "$out/$name.deb" > /dev/null
echo "$out/$name.deb"
