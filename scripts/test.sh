#!/usr/bin/env bash
# Builds and runs etgrad's whole test suite with CTest, three times:
#   1. GCC 12, warnings as errors, -march=native (the data loops use this machine's widest SIMD);
#      tests, examples, benchmarks' agreement checks, consumers; with nvcc, the CUDA examples and
#      device-code tests (run on a GPU when one is visible);
#   2. Clang (clang++-16, else clang++), warnings as errors, a plain build (SSE2 data loops), the
#      random expressions 101-200 (the GCC build runs 1-100: together all 200 of test/fuzz), with
#      UBSan's float-cast-overflow check in trap mode (no runtime library needed: a float-to-integer
#      conversion out of range, e.g. in a SIMD kernel's lanes, stops the test with SIGILL);
#   3. GCC with AddressSanitizer and UndefinedBehaviorSanitizer, float-cast-overflow included
#      (GCC's -fsanitize=undefined leaves it out), a plain build (SSE2 data loops); the run-time
#      tests of code that indexes memory (test/CMakeLists.txt names those left out, which check
#      values and texts);
#   4. Clang 14: every test, static test and example compiled (-fsyntax-only, warnings as errors).
# Installs the Debian packages it needs first. ETGRAD_TEST_CONFIGS="gcc clang asan" selects.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh clang-16 clang-14 libopenmpi-dev openmpi-bin
configs=${ETGRAD_TEST_CONFIGS:-gcc clang asan clang14}
jobs=$(nproc)
# CUDA: the gcc configuration compiles the CUDA examples and device-code tests when nvcc is here
# (the toolkit's usual folder counts even when it is not on PATH); the others leave CUDA off.
if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ] && [ -z "${CUDACXX:-}" ]; then
  export CUDACXX=/usr/local/cuda/bin/nvcc
fi
clangxx=$(command -v clang++-16 || command -v clang++)

run() {  # run <name> <cmake options...>
  local name=$1; shift
  local dir=build/test-$name
  echo "=== etgrad tests: $name"
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
  cmake --build "$dir" -j "$jobs"
  ctest --test-dir "$dir" --output-on-failure -j "$jobs"
}

for c in $configs; do
  start=$SECONDS
  case $c in
    gcc)   run gcc -DCMAKE_CXX_COMPILER=g++ -DETGRAD_WERROR=ON -DETGRAD_NATIVE=ON -DETGRAD_FUZZ_HALF=1 ;;
    clang) run clang "-DCMAKE_CXX_COMPILER=$clangxx" -DETGRAD_WERROR=ON -DETGRAD_CUDA=OFF -DETGRAD_FUZZ_HALF=2 \
             "-DCMAKE_CXX_FLAGS=-fsanitize=float-cast-overflow -fsanitize-trap=float-cast-overflow" ;;
    # Sanitizer builds: -Werror off (libstdc++'s regex, used by Catch2, warns under -fsanitize).
    # Run-time tests only (compilation is what the other configurations check).
    asan)  run asan -DCMAKE_CXX_COMPILER=g++ -DETGRAD_WERROR=OFF -DETGRAD_BUILD_BENCHMARKS=OFF -DETGRAD_CUDA=OFF \
             -DETGRAD_BUILD_EXAMPLES=OFF -DETGRAD_TESTS_RUNTIME_ONLY=ON "-DCMAKE_CXX_FLAGS_RELEASE=-O1 -DNDEBUG" \
             "-DCMAKE_CXX_FLAGS=-fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=all -fno-omit-frame-pointer" ;;
    clang14)
      echo "=== etgrad tests: clang14 (compile only)"
      # One compiler per core; any failure fails the configuration.
      ls test/runtime/*.cpp test/static/*.cpp examples/*.cpp bench/*.cpp | xargs -P "$jobs" -I{} \
        clang++-14 -std=c++20 -fsyntax-only -Wall -Wextra -Wpedantic -Werror -Iinclude \
          -DETGRAD_TORCH_REFERENCE_FILE='"test/reference/torch_reference.txt"' \
          -DETGRAD_TORCH_TENSOR_REFERENCE_FILE='"test/reference/torch_tensor_reference.txt"' \
          -DETGRAD_TORCH_OPTIM_REFERENCE_FILE='"test/reference/torch_optim_reference.txt"' \
          -DETGRAD_TORCH_LOOP_REFERENCE_FILE='"test/reference/torch_loop_reference.txt"' \
          -DETGRAD_TORCH_HVP_REFERENCE_FILE='"test/reference/torch_hvp_reference.txt"' \
          -DETGRAD_TORCH_STABLE_REFERENCE_FILE='"test/reference/torch_stable_reference.txt"' \
          -DETGRAD_TORCH_RNN_BATCH_REFERENCE_FILE='"test/reference/torch_rnn_batch_reference.txt"' {} ;;
    *) echo "unknown configuration $c" >&2; exit 2 ;;
  esac
  echo "=== etgrad tests: $c took $((SECONDS - start)) s"
done
echo "=== etgrad tests: all configurations passed ($configs)"
