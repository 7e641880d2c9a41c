#!/usr/bin/env bash
# Cross-compile edgepaint for the boards, from a Debian/Ubuntu x86_64 machine
# (no Docker). Installs what it needs, builds the board binaries and packs
# dist bundles (tarballs) and a Debian package per architecture
# (scripts/deb.sh): arm64, armhf and amd64 (this machine's release build,
# with the ONNX parser, threads and MQTT), with dist/SHA256SUMS. The ARM
# glibc targets get two tarballs, without and with the `mqtt` feature
# (edgepaint-VERSION-TARGET.tar.gz, ...-TARGET-mqtt.tar.gz; BUILD-INFO.txt
# in each says which); their packages carry the MQTT build.
#
#   scripts/cross.sh                  # all targets, then dist/
#   scripts/cross.sh --test           # also run the test suite of each target under qemu-user
#   scripts/cross.sh --no-install     # skip apt-get / rustup (already set up)
#   scripts/cross.sh --tests-only     # install, then only run the test suites under qemu (CI)
#   scripts/cross.sh --install-only   # only the cross gcc, qemu-user and the Rust targets
#   TARGETS="aarch64-unknown-linux-gnu" scripts/cross.sh
#   FEATURES=onnx scripts/cross.sh    # board binaries that also read ONNX bundles (bigger)
#   PROFILE=release scripts/cross.sh  # faster binaries (opt-level 3 everywhere), 4 MB bigger
#
# By default the board binaries leave tract's ONNX parser out (cargo feature
# `onnx`) and the dist bundle carries the default model converted to tract's
# NNEF form by this machine's build (`edgepaint convert`). To run your own
# ONNX bundle on such a board, convert it on the PC the same way, or build
# with FEATURES=onnx.
#
# Targets:
#   aarch64-unknown-linux-gnu      Pi 3/4/5 and Zero 2 on 64-bit Raspberry Pi OS, Jetson (JetPack 6)
#   armv7-unknown-linux-gnueabihf  32-bit Raspberry Pi OS (Pi 2/3/4, Zero 2)
#   aarch64-unknown-linux-musl     static: any 64-bit ARM Linux, old glibc (JetPack 5, Bullseye); no .deb
#   x86_64-unknown-linux-gnu       PCs: `cargo build --release` (all features), the ONNX model
# The board file a package installs as /etc/edgepaint/board.toml: scripts/deb.sh's
# default for the architecture; DEB_BOARD=FILE for another.
# Linkers and qemu runners are set in .cargo/config.toml.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGETS=${TARGETS:-"aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf aarch64-unknown-linux-musl x86_64-unknown-linux-gnu"}
FEATURES=${FEATURES:-}
PROFILE=${PROFILE:-board}
install=1
test=0
build=1
for arg in "$@"; do
  case "$arg" in
    --no-install) install=0 ;;
    --test) test=1 ;;
    --tests-only) test=1; build=0 ;;
    --install-only) test=0; build=0 ;;
    -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
    *) echo "error: unknown option $arg" >&2; exit 2 ;;
  esac
done

if [ "$install" = 1 ]; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  pkgs="qemu-user binutils"
  case "$TARGETS" in *aarch64*) pkgs="$pkgs gcc-aarch64-linux-gnu libc6-dev-arm64-cross" ;; esac
  case "$TARGETS" in *armv7*) pkgs="$pkgs gcc-arm-linux-gnueabihf libc6-dev-armhf-cross" ;; esac
  missing=$(for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done)
  if [ -n "$missing" ]; then
    echo "installing: $missing"
    $sudo apt-get update -q
    # shellcheck disable=SC2086
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
  fi
  # shellcheck disable=SC2086
  rustup target add $TARGETS
fi

# The ARM test suites: every feature but `c2pa`, which the board builds leave
# out (its ~150 crates would add minutes to CI's cross build;
# tests/credentials.rs runs on the PC build).
arm_test_features=(--no-default-features --features onnx,threads,mqtt)
if [ "$build" = 0 ]; then
  [ "$test" = 1 ] || exit 0
  for target in $TARGETS; do
    echo "== $target: tests under qemu-user"
    cargo test --locked --target "$target" "${arm_test_features[@]}"
  done
  exit 0
fi

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
features=(--no-default-features)
[ -n "$FEATURES" ] && features+=(--features "$FEATURES")
model=models/scenes
case ",$FEATURES," in
  *,onnx,*) ;;
  *)
    # The board build reads NNEF only: convert the default model once, here.
    model=target/dist/models-nnef/scenes
    rm -rf "$model"
    echo "== default model -> NNEF ($model)"
    cargo run --locked --quiet -- convert --model models/scenes --out "$model"
    ;;
esac
# A board binary needs no position-independent executable's relocation
# table (relocation-model=static: a plain executable, 0.9 MB smaller). It
# keeps its unwind tables: a panic inside tract unwinds into an error
# (src/runtime/contain.rs) instead of killing the kiosk.
board_rustflags="${RUSTFLAGS:-} -C relocation-model=static"
mkdir -p dist
# One dist bundle: the binary, the model, board files, README; BUILD-INFO.txt
# says which features it was built with (the -mqtt bundles add the broker client).
pack() {
  local target=$1 bin=$2 target_model=$3 suffix=$4 built_with=$5
  local name="edgepaint-$version-$target$suffix"
  local stage="target/dist/$name"
  rm -rf "$stage"
  mkdir -p "$stage/models"
  cp "$bin" "$stage/edgepaint"
  cp -r "$target_model" "$stage/models/scenes"
  cp -r board "$stage/board"
  cp README.md "$stage/README.md"
  cp docs/install.md "$stage/INSTALL.md"
  printf 'edgepaint %s for %s\ncargo features: %s\nbinary: %s bytes\n' \
    "$version" "$target" "$built_with" "$(stat -c %s "$bin")" > "$stage/BUILD-INFO.txt"
  tar -C target/dist -czf "dist/$name.tar.gz" "$name"
  echo "   $(stat -c %s "$bin") bytes  $bin ($built_with)"
  echo "   dist/$name.tar.gz"
}

for target in $TARGETS; do
  if [ "$target" = x86_64-unknown-linux-gnu ]; then
    # A PC: the README's own build (all features), the ONNX model as shipped.
    echo "== $target: release build (all features)"
    cargo build --release --locked
    bin=target/release/edgepaint
    target_model=models/scenes
    pack "$target" "$bin" "$target_model" "" "default (onnx threads mqtt c2pa)"
  else
    # Each ARM target twice: without MQTT (the size budget) and with it
    # (README "Fleet"); musl only without (ring's C build wants a musl gcc).
    variants=("")
    [ "$target" = aarch64-unknown-linux-musl ] || variants+=(mqtt)
    for variant in "${variants[@]}"; do
      vfeatures=("${features[@]}")
      [ -n "$variant" ] && vfeatures+=(--features "$variant")
      echo "== $target: $PROFILE build (${vfeatures[*]}; RUSTFLAGS $board_rustflags)"
      RUSTFLAGS="$board_rustflags" cargo build --profile "$PROFILE" --locked --target "$target" "${vfeatures[@]}"
      bin="target/$target/$PROFILE/edgepaint"
      built_with=$(echo "${FEATURES:-} $variant" | tr ',' ' ' | xargs)
      pack "$target" "$bin" "$model" "${variant:+-$variant}" "${built_with:-none} (no-default-features)"
      # The package carries the last variant built: with MQTT where there is one.
      cp "$bin" "target/dist/edgepaint-$target-deb"
    done
    bin="target/dist/edgepaint-$target-deb"
    target_model=$model
  fi
  if [ "$test" = 1 ] && [ "$target" != x86_64-unknown-linux-gnu ]; then
    echo "== $target: tests under qemu-user"
    cargo test --locked --target "$target" "${arm_test_features[@]}"
  fi
  case "$target" in
    aarch64-unknown-linux-gnu) arch=arm64 ;;
    armv7-unknown-linux-gnueabihf) arch=armhf ;;
    x86_64-unknown-linux-gnu) arch=amd64 ;;
    *) arch="" ;;   # musl: the tarball only (it would clash with the glibc arm64 package)
  esac
  if [ -n "$arch" ]; then
    echo "   $(scripts/deb.sh --arch "$arch" --binary "$bin" --model "$target_model" ${DEB_BOARD:+--board "$DEB_BOARD"} --version "$version" --out dist)"
  fi
done
(cd dist && shopt -s nullglob && sha256sum edgepaint-"$version"-*.tar.gz edgepaint_"$version"_*.deb > SHA256SUMS)
echo "checksums: dist/SHA256SUMS"
