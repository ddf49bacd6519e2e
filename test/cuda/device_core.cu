// The scalar core in CUDA device code: expressions, evaluation, value_and_grad, grad, jvp, hessian,
// symbolic d, custom functions, where, constants folded at compile time, float and double. One
// __host__ __device__ function computes a row of results; the host runs it and checks the values
// against closed forms, and when a GPU is visible a kernel runs it too and must agree to 1e-12.
// Compiling this file is the test that the headers stay device-clean (nvcc, warnings as errors).
#include <etgrad/etgrad.hpp>

#include <cmath>
#include <cstdio>

#include <cuda_runtime.h>

namespace eg = etgrad;

struct Cube {  // a custom operation with its own derivative rule
    static constexpr auto value(const auto& u) { return u * u * u; }
    static constexpr auto derivative(const auto& u) { return 3.0 * u * u; }
};

constexpr int results = 14;

template <class T>
ETGRAD_HD void core_results(T xv, T yv, double* out) {
    constexpr auto x = eg::var<"x">;
    constexpr auto y = eg::var<"y">;
    constexpr auto f = eg::sin(x * y) + eg::exp(y) / x + eg::function<Cube>(x) + eg::where(x > y, x, y);
    // folded by the compiler, in device code too
    static_assert(eg::d(x * x * x, x)(x = 2.0) == 12.0);
    static_assert(eg::is_zero<decltype(eg::d(eg::exp(y), x))>);
    constexpr double folded = eg::exp(x)(x = 0.0) + eg::cos(x)(x = 0.0);
    static_assert(folded == 2.0);

    out[0] = f(x = xv, y = yv);
    auto [v, g] = eg::value_and_grad(f, x = xv, y = yv);
    out[1] = v;
    out[2] = g[x];
    out[3] = g[y];
    out[4] = eg::grad(eg::erf(x) * eg::log(y), eg::wrt(y), x = xv, y = yv)[y];
    auto [v2, t] = eg::jvp(f, eg::tangent(x = T(1), y = T(0)), x = xv, y = yv);
    out[5] = v2;
    out[6] = t;
    auto H = eg::hessian(f, eg::wrt(x, y), x = xv, y = yv);
    out[7] = H(x, x);
    out[8] = H(x, y);
    out[9] = H(y, y);
    constexpr auto dfdx = eg::d(f, x);
    out[10] = dfdx(x = xv, y = yv);
    out[11] = eg::d(dfdx, y)(x = xv, y = yv);
    out[12] = eg::sigmoid(x * y)(x = xv, y = yv);
    out[13] = eg::pow(x, eg::c<1, 2>)(x = xv) + eg::tanh(y)(y = yv);
}

__global__ void core_kernel(double xv, double yv, double* out, float xf, float yf, double* outf) {
    core_results(xv, yv, out);
    core_results(xf, yf, outf);
}

int main() {
    const double xv = 1.5, yv = 0.5;
    double host[results], hostf[results];
    core_results(xv, yv, host);
    core_results(float(xv), float(yv), hostf);
    // Closed forms: f = sin(xy) + e^y / x + x^3 + max(x, y) (x > y here).
    const double ey = std::exp(yv), c = std::cos(xv * yv), s = std::sin(xv * yv);
    const double expect[results] = {
        s + ey / xv + xv * xv * xv + xv,
        s + ey / xv + xv * xv * xv + xv,
        yv * c - ey / (xv * xv) + 3 * xv * xv + 1,
        xv * c + ey / xv,
        std::erf(xv) / yv,
        s + ey / xv + xv * xv * xv + xv,
        yv * c - ey / (xv * xv) + 3 * xv * xv + 1,
        -yv * yv * s + 2 * ey / (xv * xv * xv) + 6 * xv,
        c - xv * yv * s - ey / (xv * xv),
        -xv * xv * s + ey / xv,
        yv * c - ey / (xv * xv) + 3 * xv * xv + 1,
        c - xv * yv * s - ey / (xv * xv),
        1 / (1 + std::exp(-xv * yv)),
        std::sqrt(xv) + std::tanh(yv),
    };
    int bad = 0;
    for (int i = 0; i < results; ++i) {
        if (std::fabs(host[i] - expect[i]) > 1e-13 * std::fmax(1.0, std::fabs(expect[i])) ||
            std::fabs(hostf[i] - expect[i]) > 1e-5 * std::fmax(1.0, std::fabs(expect[i]))) {
            std::printf("host result %d: %.17g (float %.9g), expected %.17g\n", i, host[i], hostf[i], expect[i]);
            ++bad;
        }
    }
    std::printf("host: %d of %d results of the device-compiled scalar core agree with the closed forms\n",
                results - bad, results);
    int devices = 0;
    if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
        std::printf("no CUDA device visible: the kernel was compiled, not run\n");
        return bad == 0 ? 0 : 1;
    }
    double *d, *df;
    if (cudaMalloc(&d, sizeof host) != cudaSuccess || cudaMalloc(&df, sizeof host) != cudaSuccess) {
        std::printf("cudaMalloc failed\n");
        return 1;
    }
    core_kernel<<<1, 1>>>(xv, yv, d, float(xv), float(yv), df);
    double dev[results], devf[results];
    if (cudaMemcpy(dev, d, sizeof dev, cudaMemcpyDeviceToHost) != cudaSuccess ||
        cudaMemcpy(devf, df, sizeof devf, cudaMemcpyDeviceToHost) != cudaSuccess) {
        std::printf("the kernel failed: %s\n", cudaGetErrorString(cudaGetLastError()));
        return 1;
    }
    for (int i = 0; i < results; ++i) {
        if (std::fabs(dev[i] - host[i]) > 1e-12 * std::fmax(1e-300, std::fabs(host[i])) ||
            std::fabs(devf[i] - hostf[i]) > 1e-5f * std::fmax(1.0, std::fabs(hostf[i]))) {
            std::printf("device result %d: %.17g (float %.9g), host %.17g (float %.9g)\n", i, dev[i], devf[i], host[i],
                        hostf[i]);
            ++bad;
        }
    }
    std::printf("device: the kernel's results %s the host's\n", bad == 0 ? "agree with" : "DISAGREE with");
    cudaFree(d);
    cudaFree(df);
    return bad == 0 ? 0 : 1;
}
