#!/usr/bin/env bash
# System programs the tests start (tests/fleet.rs): the mosquitto broker and
# its clients, and openssl for the TLS test's throw-away CA. Installed from
# Debian when missing (as root, or through sudo); otherwise says what to run.
set -euo pipefail
missing=()
command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
command -v mosquitto_pub >/dev/null || missing+=(mosquitto-clients)
command -v openssl >/dev/null || missing+=(openssl)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ]; then
  sudo=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  sudo=(sudo)
else
  echo "error: the tests need ${missing[*]}: sudo apt install ${missing[*]}" >&2
  exit 1
fi
echo "installing ${missing[*]} (Debian packages) for the tests" >&2
"${sudo[@]}" apt-get update -q
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
