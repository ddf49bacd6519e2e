#!/usr/bin/env bash
# Builds and runs etgrad's main demo: the autograd-notes walkthrough (values, gradients, graphs as
# .dot files rendered to PNG with Graphviz) and logistic-regression training on the cgpa/placed table.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh graphviz
build=${ETGRAD_BUILD_DIR:-build/demo}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DETGRAD_BUILD_TESTS=OFF -DETGRAD_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build "$build" -j "$(nproc)" --target etgrad_autograd_notes etgrad_logistic_regression
mkdir -p demo-output
(cd demo-output && "../$build/examples/etgrad_autograd_notes")
(cd demo-output && "../$build/examples/etgrad_logistic_regression")
