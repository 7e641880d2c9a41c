#!/usr/bin/env bash
# Build stable-diffusion.cpp's CLI (sd-cli) for the CPU, as used by
# scripts/bench/sdcpp_compare.py (issue 14; runs/sdcpp/RESULTS.md).
#
#   scripts/bench/sdcpp_build.sh SDCPP_GIT GGML_GIT OUT_DIR [SDCPP_COMMIT] [--configure-only]
#
# SDCPP_GIT, GGML_GIT: git repositories (bare mirrors are fine) of
# leejet/stable-diffusion.cpp and ggml-org/ggml (sd.cpp's submodule points at
# leejet/ggml; the pinned commit is also in ggml-org/ggml). SDCPP_COMMIT defaults
# to the one measured (97d2990807fe6d558e395f8764198d7c7e7b411c); ggml is checked
# out at the commit sd.cpp pins.
#
# Blobs missing from a partial mirror (the large tokenizer tables of the T5 / LLM
# text encoders, a few assets) are left out by a sparse checkout and the headers
# replaced by one-byte stubs: SD 1.x / 2.x use only the CLIP merges, which must be
# present (checked). Two builds, both Release, GGML_NATIVE (-march=native), OpenMP,
# CPU backend only, in OUT_DIR/build:
#   OUT_DIR/bin/sd-cli-default    ggml's defaults (GGML_LLAMAFILE=OFF, as sd.cpp's own
#                                 CMake and release workflow leave it)
#   OUT_DIR/bin/sd-cli-llamafile  + -DGGML_LLAMAFILE=ON (llamafile's tinyBLAS sgemm
#                                 for f32/f16 matmuls)
# Compiles with -j1 under nice 19 (a shared 2-core host): ~9 min, then ~1 min for
# the second (only ggml-cpu changes).
set -euo pipefail
SDCPP_GIT=$1
GGML_GIT=$2
OUT=$3
COMMIT=${4:-97d2990807fe6d558e395f8764198d7c7e7b411c}
CONFIGURE_ONLY=0
for a in "$@"; do [ "$a" = --configure-only ] && CONFIGURE_ONLY=1; done
[ "$COMMIT" = --configure-only ] && COMMIT=97d2990807fe6d558e395f8764198d7c7e7b411c

command -v cmake >/dev/null || { echo "cmake not found (apt install cmake, or .venv/bin/python -m pip install cmake)" >&2; exit 1; }

if [ ! -d "$OUT/.git" ]; then
    git clone -q --no-checkout "$SDCPP_GIT" "$OUT"
fi
cd "$OUT"
# Paths whose blobs the repository lacks: sparse-checkout them out.
missing=()
while read -r _mode type sha path; do
    [ "$type" = blob ] || continue
    git cat-file -e "$sha" 2>/dev/null || missing+=("$path")
done < <(git ls-tree -r "$COMMIT")
git sparse-checkout set --no-cone '/*' $(printf '!/%s ' "${missing[@]}") >/dev/null
git -c advice.detachedHead=false checkout -q "$COMMIT"
for path in "${missing[@]}"; do
    case "$path" in
        src/tokenizers/vocab/clip_*) echo "missing $path: SD needs it" >&2; exit 1 ;;
        src/tokenizers/vocab/*.hpp)
            stem=$(basename "$path" .hpp)
            case "$stem" in               # the array each header defines (vocab.cpp)
                qwen_merges) var=qwen2_merges_utf8_c_str ;;
                t5|umt5) var=${stem}_tokenizer_json_str ;;
                *_merges) var=${stem}_utf8_c_str ;;
                *_vocab) var=${stem}_json_utf8_c_str ;;
                *) var= ;;
            esac
            if [ -z "$var" ] || ! grep -q "\b$var\b" src/tokenizers/vocab/vocab.cpp; then
                echo "cannot stub $path (array name ${var:-?} not in vocab.cpp)" >&2; exit 1
            fi
            mkdir -p "$(dirname "$path")"
            printf '// STUB: blob absent from the mirror; only CLIP (SD 1.x/2.x) tokenizers are used here\n#pragma once\nstatic const unsigned char %s[] = {0};\n' "$var" > "$path"
            echo "stubbed $path ($var)" ;;
        *) echo "left out $path" ;;
    esac
done

ggml_commit=$(git ls-tree "$COMMIT" ggml | awk '{print $3}')
if [ ! -d ggml/.git ]; then
    rmdir ggml 2>/dev/null || true
    git clone -q --no-checkout "$GGML_GIT" ggml
fi
git -C ggml -c advice.detachedHead=false checkout -q "$ggml_commit"
echo "sd.cpp $(git rev-parse HEAD), ggml $(git -C ggml rev-parse HEAD)"

common=(-DCMAKE_BUILD_TYPE=Release -DSD_WEBP=OFF -DSD_WEBM=OFF -DGGML_NATIVE=ON -DSD_SERVER_BUILD_FRONTEND=OFF)
nice -n 19 cmake -B build "${common[@]}" -DGGML_LLAMAFILE=OFF >/dev/null
[ "$CONFIGURE_ONLY" = 1 ] && { echo "configured build/"; exit 0; }
mkdir -p bin
# the same build folder twice: the second build recompiles ggml-cpu only
for lf in OFF ON; do
    nice -n 19 cmake -B build "${common[@]}" -DGGML_LLAMAFILE=$lf >/dev/null
    start=$(date +%s)
    nice -n 19 cmake --build build -j1 --target sd-cli >"build-llamafile-$lf.log" 2>&1
    echo "GGML_LLAMAFILE=$lf: built in $(( $(date +%s) - start )) s"
    if [ $lf = OFF ]; then cp build/bin/sd-cli bin/sd-cli-default; else cp build/bin/sd-cli bin/sd-cli-llamafile; fi
done
bin/sd-cli-default --version
