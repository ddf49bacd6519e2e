// Logistic regression on a million samples, its mean loss and gradient computed on the GPU: each CUDA
// thread runs etgrad's `value_and_grad` on its samples, a block adds its threads' results in shared
// memory (a fixed tree, so the result is reproducible), and the host adds the blocks' partial sums
// in block order. Ten steps of gradient descent run on the GPU and on the CPU (etgrad's SIMD data
// loop), and the losses, gradients and parameters are compared to 1e-12 relative.
//
// Build: CMake builds it when it finds CUDA (etgrad's examples/cuda); by hand:
//   nvcc -std=c++20 --expt-relaxed-constexpr -O3 -arch=native -Iinclude examples/cuda/logistic_regression.cu
// Exit status: 0 agreed, 1 disagreed, 77 no CUDA device (the check is skipped, with a message).
#include <etgrad/etgrad.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include <cuda_runtime.h>

#include "cuda_check.hpp"

namespace eg = etgrad;

struct loss_grad {
    double loss, w1, w2, b;
};

// One sample's loss (binary cross-entropy of sigmoid(z), in the stable form softplus(z) - y z) and
// its gradient: ETGRAD_HD makes it a __host__ __device__ function under nvcc.
ETGRAD_HD inline loss_grad sample_loss(double w1v, double w2v, double bv, double x1v, double x2v, double yv) {
    constexpr auto w1 = eg::var<"w1">;
    constexpr auto w2 = eg::var<"w2">;
    constexpr auto b = eg::var<"b">;
    constexpr auto x1 = eg::var<"x1">;
    constexpr auto x2 = eg::var<"x2">;
    constexpr auto y = eg::var<"y">;
    constexpr auto z = w1 * x1 + w2 * x2 + b;
    constexpr auto loss = eg::softplus(z) - y * z;
    auto [L, g] = eg::value_and_grad(loss, eg::wrt(w1, w2, b), w1 = w1v, w2 = w2v, b = bv, x1 = x1v, x2 = x2v,
                                     y = yv);
    return {L, g[w1], g[w2], g[b]};
}

constexpr int block = 256;
constexpr int blocks = 512;

__global__ void loss_and_grad(const double* x1, const double* x2, const double* y, int n, double w1, double w2,
                              double b, loss_grad* partial) {
    __shared__ double acc[4][block];
    double t[4] = {0, 0, 0, 0};
    for (int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x); i < n; i += blockDim.x * gridDim.x) {
        const loss_grad r = sample_loss(w1, w2, b, x1[i], x2[i], y[i]);
        t[0] += r.loss;
        t[1] += r.w1;
        t[2] += r.w2;
        t[3] += r.b;
    }
    for (int k = 0; k < 4; ++k) {
        acc[k][threadIdx.x] = t[k];
    }
    __syncthreads();
    for (unsigned stride = block / 2; stride > 0; stride /= 2) {  // a fixed tree: reproducible
        if (threadIdx.x < stride) {
            for (int k = 0; k < 4; ++k) {
                acc[k][threadIdx.x] += acc[k][threadIdx.x + stride];
            }
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) {
        partial[blockIdx.x] = {acc[0][0], acc[1][0], acc[2][0], acc[3][0]};
    }
}


int main() {
    constexpr int n = 1 << 20;
    constexpr int steps = 10;
    constexpr double lr = 0.5;
    std::vector<double> xs1(n), xs2(n), ys(n);
    std::mt19937_64 gen(2026);
    std::normal_distribution<double> nd;
    std::uniform_real_distribution<double> ud;
    for (int i = 0; i < n; ++i) {
        xs1[i] = nd(gen);
        xs2[i] = nd(gen);
        const double p = 1 / (1 + std::exp(-(1.5 * xs1[i] - 2.0 * xs2[i] + 0.7)));
        ys[i] = ud(gen) < p ? 1.0 : 0.0;
    }

    // The CPU: the mean loss over the data, one SIMD pass per step.
    constexpr auto w1 = eg::var<"w1">;
    constexpr auto w2 = eg::var<"w2">;
    constexpr auto b = eg::var<"b">;
    constexpr auto x1 = eg::var<"x1">;
    constexpr auto x2 = eg::var<"x2">;
    constexpr auto y = eg::var<"y">;
    constexpr auto z = w1 * x1 + w2 * x2 + b;
    constexpr auto mean_loss = eg::mean(eg::softplus(z) - y * z);
    std::vector<loss_grad> cpu(steps);
    double p1 = 0, p2 = 0, pb = 0;
    auto t0 = std::chrono::steady_clock::now();
    for (int s = 0; s < steps; ++s) {
        auto [L, g] = eg::value_and_grad(mean_loss, eg::wrt(w1, w2, b), w1 = p1, w2 = p2, b = pb, x1 = xs1, x2 = xs2,
                                         y = ys);
        cpu[s] = {L, g[w1], g[w2], g[b]};
        p1 -= lr * g[w1];
        p2 -= lr * g[w2];
        pb -= lr * g[b];
    }
    const double cpu_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("CPU (SIMD data loop, %s): %d samples, loss + gradient %.3f ms per step; after %d steps "
                "loss %.12f, w = (%.6f, %.6f), b = %.6f\n",
                eg::simd_arch_name(), n, 1e3 * cpu_s / steps, steps, cpu[steps - 1].loss, p1, p2, pb);

    int devices = 0;
    if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
        std::printf("SKIPPED: no CUDA device is visible, so the GPU run and its comparison with the CPU are "
                    "skipped (the device code was compiled)\n");
        return 77;
    }
    cudaDeviceProp prop{};
    CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
    double *d1, *d2, *dy;
    loss_grad* dp;
    const std::size_t bytes = n * sizeof(double);
    CUDA_CHECK(cudaMalloc(&d1, bytes));
    CUDA_CHECK(cudaMalloc(&d2, bytes));
    CUDA_CHECK(cudaMalloc(&dy, bytes));
    CUDA_CHECK(cudaMalloc(&dp, blocks * sizeof(loss_grad)));
    CUDA_CHECK(cudaMemcpy(d1, xs1.data(), bytes, cudaMemcpyHostToDevice));
    CUDA_CHECK(cudaMemcpy(d2, xs2.data(), bytes, cudaMemcpyHostToDevice));
    CUDA_CHECK(cudaMemcpy(dy, ys.data(), bytes, cudaMemcpyHostToDevice));
    loss_and_grad<<<blocks, block>>>(d1, d2, dy, n, 0, 0, 0, dp);  // warm-up
    CUDA_CHECK(cudaDeviceSynchronize());

    std::vector<loss_grad> gpu(steps), part(blocks);
    double q1 = 0, q2 = 0, qb = 0;
    double kernel_ms = 0;
    for (int s = 0; s < steps; ++s) {
        cudaEvent_t e0, e1;
        CUDA_CHECK(cudaEventCreate(&e0));
        CUDA_CHECK(cudaEventCreate(&e1));
        CUDA_CHECK(cudaEventRecord(e0));
        loss_and_grad<<<blocks, block>>>(d1, d2, dy, n, q1, q2, qb, dp);
        CUDA_CHECK(cudaEventRecord(e1));
        CUDA_CHECK(cudaMemcpy(part.data(), dp, blocks * sizeof(loss_grad), cudaMemcpyDeviceToHost));
        float ms = 0;
        CUDA_CHECK(cudaEventElapsedTime(&ms, e0, e1));
        kernel_ms += ms;
        cudaEventDestroy(e0);
        cudaEventDestroy(e1);
        loss_grad t{0, 0, 0, 0};
        for (const loss_grad& p : part) {  // the blocks in order: reproducible
            t.loss += p.loss;
            t.w1 += p.w1;
            t.w2 += p.w2;
            t.b += p.b;
        }
        gpu[s] = {t.loss / n, t.w1 / n, t.w2 / n, t.b / n};
        q1 -= lr * gpu[s].w1;
        q2 -= lr * gpu[s].w2;
        qb -= lr * gpu[s].b;
    }
    cudaFree(d1);
    cudaFree(d2);
    cudaFree(dy);
    cudaFree(dp);

    double worst = std::fmax(std::fmax(rel_err(q1, p1), rel_err(q2, p2)), rel_err(qb, pb));
    for (int s = 0; s < steps; ++s) {
        worst = std::fmax(worst, std::fmax(std::fmax(rel_err(gpu[s].loss, cpu[s].loss), rel_err(gpu[s].w1, cpu[s].w1)),
                                           std::fmax(rel_err(gpu[s].w2, cpu[s].w2), rel_err(gpu[s].b, cpu[s].b))));
    }
    std::printf("GPU (%s): loss + gradient %.3f ms per step (kernel, %d blocks of %d threads); after %d steps loss "
                "%.12f, w = (%.6f, %.6f), b = %.6f\n",
                prop.name, kernel_ms / steps, blocks, block, steps, gpu[steps - 1].loss, q1, q2, qb);
    const bool ok = worst <= 1e-12;
    std::printf("GPU against CPU: worst relative difference %.3g over %d steps' losses, gradients and the final "
                "parameters: %s\n",
                worst, steps, ok ? "OK (within 1e-12)" : "FAILED (beyond 1e-12)");
    return ok ? 0 : 1;
}
