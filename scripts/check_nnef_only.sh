#!/usr/bin/env bash
# The board build: edgepaint without tract's ONNX parser and without
# multi-threaded kernels (no default features) must build, run a bundle
# converted to NNEF by the full build - the same picture as the full build
# (the shipped model, and an exported SD-family bundle's int8 graphs),
# and `--threads 2` only warns - and refuse an ONNX bundle with a clear
# one-line error. (That the NNEF bundle
# makes the same pictures as the ONNX one is tests/nnef.rs.) Leaves the full
# debug build in target/debug as it found it.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cargo build --locked --quiet
target/debug/edgepaint convert --model models/scenes --out "$tmp/scenes-nnef" > /dev/null
# An exported SD-family bundle's int8 graphs (int8 weights on the board).
target/debug/edgepaint convert --model tests/fixtures/diffusers/sd-turbo --out "$tmp/sd-int8-nnef" > /dev/null
cargo build --locked --quiet --no-default-features
cp target/debug/edgepaint "$tmp/edgepaint-nnef-only"
cargo build --locked --quiet   # the full build back in place (no recompile)
small="$tmp/edgepaint-nnef-only"

prompt="a yellow boat on the sea at night"
warn=$("$small" --threads 2 generate "$prompt" --seed 5 --model "$tmp/scenes-nnef" -o "$tmp/boat.png" 2>&1)
"$small" verify "$tmp/boat.png" > /dev/null || { echo "FAIL: no watermark in the NNEF-only build's picture" >&2; exit 1; }
grep -q "without multi-threaded kernels" <<< "$warn" || { echo "FAIL: no warning for --threads 2 in a build without threads: $warn" >&2; exit 1; }
target/debug/edgepaint --threads 2 generate "$prompt" --seed 5 --model "$tmp/scenes-nnef" -o "$tmp/boat-full.png" 2> /dev/null
cmp -s "$tmp/boat.png" "$tmp/boat-full.png" || { echo "FAIL: the NNEF-only build's picture differs from the full build's" >&2; exit 1; }

"$small" generate "a red fox" --seed 5 --steps 4 --model "$tmp/sd-int8-nnef" -o "$tmp/fox.png" 2> /dev/null
target/debug/edgepaint generate "a red fox" --seed 5 --steps 4 --model "$tmp/sd-int8-nnef" -o "$tmp/fox-full.png" 2> /dev/null
cmp -s "$tmp/fox.png" "$tmp/fox-full.png" || { echo "FAIL: the NNEF-only build's int8 SD picture differs from the full build's" >&2; exit 1; }

set +e
err=$("$small" generate "a tree" --model models/scenes -o "$tmp/x.png" 2>&1)
code=$?
set -e
if [ "$code" != 2 ] || [ "$(printf '%s\n' "$err" | wc -l)" != 1 ] || ! grep -q "without the ONNX parser" <<< "$err"; then
  echo "FAIL: an ONNX bundle in the NNEF-only build: exit $code, stderr: $err" >&2
  exit 1
fi
echo "NNEF-only build: same picture as the full build, refuses ONNX with: $err"

# Without the `mqtt` feature a board file naming a broker is refused at start, saying why.
sed 's|^\[mqtt\]$|[mqtt]\nurl = "mqtt://127.0.0.1:1"|' board/desktop.toml > "$tmp/mqtt-board.toml"
set +e
out=$("$small" kiosk --board "$tmp/mqtt-board.toml" --model "$tmp/scenes-nnef" --display none < /dev/null 2>&1)
code=$?
set -e
[ "$code" = 2 ] && grep -q "built without MQTT" <<< "$out" \
  || { echo "FAIL: the build without MQTT did not refuse [mqtt] clearly (exit $code): $out" >&2; exit 1; }
echo "check_nnef_only: the build without MQTT refuses a broker clearly"
