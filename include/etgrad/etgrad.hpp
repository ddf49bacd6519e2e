// etgrad/etgrad.hpp — the umbrella header: `#include <etgrad/etgrad.hpp>` and `namespace eg = etgrad;`.
// etgrad is compile-time automatic differentiation: the type of an expression is its computation
// graph, derivatives are types, and gradients are straight-line code with no tape.
#pragma once

#include "check.hpp"
#include "data.hpp"
#include "core.hpp"
#include "derivative.hpp"
#include "eval.hpp"
#include "function.hpp"
#include "graph.hpp"
#include "inspect.hpp"
#include "literals.hpp"
#include "text.hpp"
#include "ops.hpp"
#include "transforms.hpp"
#include "tensor/value.hpp"
#include "tensor/ops.hpp"
#include "tensor/eval.hpp"
#include "tensor/data.hpp"
#include "nn.hpp"
#include "loop.hpp"
#include "loop/data.hpp"
