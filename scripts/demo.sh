#!/usr/bin/env bash
# Builds and runs etgrad's main demo: the autograd-notes walkthrough (values, gradients, graphs as
# .dot files rendered to PNG with Graphviz), logistic-regression training on the cgpa/placed table,
# the same model trained on a million samples with the fused SIMD data loop, a Black-Scholes
# book priced with its greeks, and a digit classifier (64 -> 32 -> 10) trained with SGD and Adam (built with -march=native: the widest SIMD of this machine).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh graphviz python3-sklearn
build=${ETGRAD_BUILD_DIR:-build/demo}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DETGRAD_BUILD_TESTS=OFF -DETGRAD_BUILD_BENCHMARKS=OFF \
  -DETGRAD_NATIVE=ON >/dev/null
cmake --build "$build" -j "$(nproc)" --target etgrad_autograd_notes etgrad_logistic_regression \
  etgrad_logistic_regression_million etgrad_black_scholes_book etgrad_digits
mkdir -p demo-output
(cd demo-output && "../$build/examples/etgrad_autograd_notes")
(cd demo-output && "../$build/examples/etgrad_logistic_regression")
(cd demo-output && "../$build/examples/etgrad_logistic_regression_million")
(cd demo-output && "../$build/examples/etgrad_black_scholes_book")
(cd demo-output && "../$build/examples/etgrad_digits")
