#!/usr/bin/env bash
# The README's "Fleet" example session, made by the current binary: a
# mosquitto on a free local port, two kiosks (hall-1, hall-2) on the shipped
# model, then mosquitto_pub/sub, `edgepaint send` and `edgepaint fleet` as
# a user would run them. Prints the transcript (commands and their output).
#
#   scripts/tools/fleet_demo.sh [BINARY]     # default target/debug/edgepaint
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=$(realpath "${1:-target/debug/edgepaint}")
scripts/test_deps.sh
tmp=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nuser root\n' "$port" > "$tmp/mosquitto.conf"
/usr/sbin/mosquitto -c "$tmp/mosquitto.conf" > /dev/null 2>&1 & pids+=($!)
sleep 0.5
url="mqtt://127.0.0.1:$port"
sed 's/^\[mqtt\]$/[mqtt]\npictures = true/' board/desktop.toml > "$tmp/board.toml"
for name in hall-1 hall-2; do
  XDG_DATA_HOME="$tmp/$name" "$bin" kiosk --board "$tmp/board.toml" --model models/scenes --display none \
    --no-stdin --mqtt "$url" --name "$name" > /dev/null 2>&1 & pids+=($!)
done
mosquitto_sub -p "$port" -t 'edgepaint/+/events' -v > "$tmp/events.txt" & pids+=($!)
# Wait for both kiosks' retained status (the shipped model loads in a few seconds).
for name in hall-1 hall-2; do
  timeout 120 mosquitto_sub -p "$port" -t "edgepaint/$name/status" -C 1 > /dev/null
done
show() {
  local line="" a
  for a in "$@"; do case "$a" in *" "*) line+="\"$a\" " ;; *) line+="$a " ;; esac; done
  echo "\$ ${line% }" | sed "s|$url|mqtt://broker.local|; s|$tmp|/tmp|g; s|$bin|edgepaint|; s|-h 127.0.0.1 -p $port|-h broker.local|"
  "$@" 2>&1 | sed "s|$tmp/hall-[12]|/home/pi/.local/share|g; s|$tmp|/tmp|g; s|$url|mqtt://broker.local|"
  echo
}
show "$bin" fleet --mqtt "$url"
show "$bin" send --mqtt "$url" --to hall-1 --wait --timeout 120 "a red house on a snowy field at night"
show "$bin" send --mqtt "$url" --to all --timeout 120 --save "$tmp/pictures" "a yellow boat on the sea at sunset"
show mosquitto_pub -h 127.0.0.1 -p "$port" -t edgepaint/hall-2/in -m "/status"
sleep 0.5
show "$bin" fleet --mqtt "$url"
echo "\$ mosquitto_sub -t 'edgepaint/+/events' -v    # meanwhile, in another terminal:"
sed "s|$tmp/hall-[12]|/home/pi/.local/share|g" "$tmp/events.txt"
