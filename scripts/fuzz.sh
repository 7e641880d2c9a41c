#!/usr/bin/env bash
# Coverage-guided fuzzing of the parsers that read what users, files and
# serial lines send (README "Reliability"): AFL++ through cargo-afl, on the
# stable toolchain. Builds fuzz/ (its own crate and target folder), runs each
# target from its committed seed corpus for SECONDS on one core, and prints
# the executions done and the crashes and hangs found.
#
#   scripts/fuzz.sh all 1800        # every target, 30 minutes each, one after another
#   scripts/fuzz.sh image 600       # one target
#   BUILD=0 scripts/fuzz.sh all 60  # use the binaries already built
#
# Targets (fuzz/src/bin): protocol (kiosk line reader and command parser),
# board (board files), manifest (model.toml parsing and validation), image
# (verify's PNG/JPEG reading, watermark detection and text chunks).
# Set up once: apt-get install afl++ (or nothing), cargo install cargo-afl
# (cargo-afl builds its own AFL++ on install).
# Each run writes runs/fuzz/TARGET-DATE/ (AFL++'s output folder: crashes/,
# hangs/, queue/, fuzzer_stats). Reproduce a crash with
#   fuzz/target/release/TARGET < runs/fuzz/TARGET-DATE/default/crashes/id:...
# A crash is a panic or an abort (an allocation past 2 GB fails and so is
# one); a hang is an input that takes over 1 s and again over 3 s when run
# once more (a busy machine alone does not make one).
set -euo pipefail
cd "$(dirname "$0")/.."

all=(protocol board manifest image)
if [[ $# -ne 2 || ! $2 =~ ^[0-9]+$ ]]; then
  echo "usage: scripts/fuzz.sh TARGET|all SECONDS (targets: ${all[*]})" >&2
  exit 2
fi
if [[ $1 == all ]]; then targets=("${all[@]}"); else targets=("$1"); fi
for t in "${targets[@]}"; do
  [[ -d fuzz/corpus/$t ]] || { echo "error: unknown target $t (targets: ${all[*]})" >&2; exit 2; }
done
if ! cargo afl --version > /dev/null 2>&1; then
  echo "error: cargo-afl is not installed: cargo install cargo-afl" >&2
  exit 2
fi

if [[ ${BUILD:-1} != 0 ]]; then
  (cd fuzz && cargo afl build --release --locked)
fi

# No UI, no check of the CPU governor, and no complaint about a
# core_pattern that hands crashes to a helper (containers, systemd).
export AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1
# The second, longer try before an input counts as a hang (-t is the first).
export AFL_HANG_TMOUT=3000

stamp=$(date +%Y%m%d-%H%M%S)
found=0
summary=()
for t in "${targets[@]}"; do
  out=runs/fuzz/$t-$stamp
  mkdir -p "$out"
  echo "== $t: $2 s, output in $out"
  # nice: fuzzing gives way to builds and benchmarks on the same machine.
  nice -n 10 cargo afl fuzz -i "fuzz/corpus/$t" -o "$out" -x "fuzz/dict/$t.dict" \
    -t 1000 -m 2048 -V "$2" -- "fuzz/target/release/$t" > "$out/afl.log" 2>&1 \
    || { tail -20 "$out/afl.log" >&2; echo "error: afl-fuzz failed for $t (log: $out/afl.log)" >&2; exit 1; }
  stats=$out/default/fuzzer_stats
  stat() { awk -v k="$1" '$1 == k { print $3 }' "$stats"; }
  line=$(printf '%-9s %12s execs in %6s s (%s/s), %s crashes, %s hangs, corpus %s, coverage %s' \
    "$t" "$(stat execs_done)" "$(stat run_time)" "$(stat execs_per_sec)" \
    "$(stat saved_crashes)" "$(stat saved_hangs)" "$(stat corpus_count)" "$(stat bitmap_cvg)")
  echo "$line"
  summary+=("$line")
  if [[ $(stat saved_crashes) != 0 || $(stat saved_hangs) != 0 ]]; then found=1; fi
done

echo "== summary"
printf '%s\n' "${summary[@]}"
exit $found
