#!/usr/bin/env bash
# Thousands of random expressions: run_many.sh [FILES] [FIRST_SEED] [CXX] [CXXFLAGS...]
# Generates FILES files of 50 expressions (seeds FIRST_SEED, FIRST_SEED + 1, ...) under
# build/fuzz, compiles each with Catch2's main (one compiler per core) and runs them. Defaults:
# 20 files (1000 expressions) from seed 1000, g++ -O1 -march=native. Exits non-zero on a failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
files=${1:-20}
first=${2:-1000}
cxx=${3:-g++}
shift $(( $# < 3 ? $# : 3 ))
flags=("$@")
[ ${#flags[@]} -eq 0 ] && flags=(-O1 -march=native)
out=build/fuzz
mkdir -p "$out"
python3 test/fuzz/gen_fuzz.py --seed "$first" --count 50 --files "$files" --out "$out/fuzz.cpp"
"$cxx" -std=c++20 "${flags[@]}" -c test/runtime/main.cpp -o "$out/main.o"
ls "$out"/fuzz_*.cpp | xargs -P "$(nproc)" -I{} "$cxx" -std=c++20 "${flags[@]}" -Iinclude -Itest/fuzz -c {} -o {}.o
status=0
for o in "$out"/fuzz_*.cpp.o; do
  "$cxx" "$out/main.o" "$o" -o "$o.exe"
  "$o.exe" "[fuzz]" >"$o.log" 2>&1 || { echo "FAILED: $o (see $o.log)"; status=1; }
done
[ $status -eq 0 ] && echo "run_many.sh: $((files * 50)) random expressions passed"
exit $status
