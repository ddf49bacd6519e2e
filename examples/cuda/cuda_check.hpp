// What both CUDA examples share: CUDA_CHECK (print the error and return 1 from main) and the
// relative difference used to compare the GPU with the CPU.
#pragma once

#include <cmath>
#include <cstdio>

#include <cuda_runtime.h>

#define CUDA_CHECK(call)                                                                             \
    do {                                                                                             \
        cudaError_t err_ = (call);                                                                   \
        if (err_ != cudaSuccess) {                                                                   \
            std::printf("CUDA error %s at %s:%d\n", cudaGetErrorString(err_), __FILE__, __LINE__); \
            return 1;                                                                                \
        }                                                                                            \
    } while (0)

/// |a - b| / max(|a|, |b|), 0 when both are 0.
inline double rel_err(double a, double b) {
    double m = std::fmax(std::fabs(a), std::fabs(b));
    return m == 0 ? 0 : std::fabs(a - b) / m;
}
