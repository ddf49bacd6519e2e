#!/usr/bin/env bash
# Builds etgrad's whole test suite with GCC 12 (warnings are errors) and runs it with CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
build=${ETGRAD_BUILD_DIR:-build/test-gcc}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=g++ -DETGRAD_WERROR=ON \
  -DETGRAD_BUILD_BENCHMARKS=ON -DETGRAD_BUILD_EXAMPLES=ON
cmake --build "$build" -j "$(nproc)"
ctest --test-dir "$build" --output-on-failure -j "$(nproc)"
