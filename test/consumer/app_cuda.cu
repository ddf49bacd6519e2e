// A CUDA consumer of etgrad: a kernel differentiates with etgrad, built through the etgrad::etgrad
// target alone (which adds nvcc's flags). Without a GPU it checks the host side of the same function.
#include <etgrad/etgrad.hpp>

#include <cuda_runtime.h>

namespace eg = etgrad;

ETGRAD_HD inline double dfdx(double xv, double yv) {
    constexpr auto x = eg::var<"x">;
    constexpr auto y = eg::var<"y">;
    return eg::grad(eg::sin(x * y) + y, x = xv, y = yv)[x];
}

__global__ void kernel(double* out) { *out = dfdx(0.0, 2.0); }

int main() {
    if (dfdx(0.0, 2.0) != 2.0) {
        return 1;
    }
    int devices = 0;
    if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
        return 0;  // compiled; nothing to run on
    }
    double* d = nullptr;
    double h = 0;
    if (cudaMalloc(&d, sizeof h) != cudaSuccess) {
        return 1;
    }
    kernel<<<1, 1>>>(d);
    const bool ok = cudaMemcpy(&h, d, sizeof h, cudaMemcpyDeviceToHost) == cudaSuccess && h == 2.0;
    cudaFree(d);
    return ok ? 0 : 1;
}
