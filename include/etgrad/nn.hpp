// etgrad/nn.hpp — neural networks: layers that name their parameters (nn/layers.hpp), stable
// losses (nn/losses.hpp), a parameter store (nn/parameters.hpp) and optimizers (nn/optim.hpp).
#pragma once

#include "nn/layers.hpp"
#include "nn/losses.hpp"
#include "nn/optim.hpp"
#include "nn/parameters.hpp"
