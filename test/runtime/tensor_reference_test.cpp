// tensor_reference_test.cpp -- etgrad's tensor operations against PyTorch reference values.
//
// Reads test/reference/torch_tensor_reference.txt (ETGRAD_TORCH_TENSOR_REFERENCE_FILE), produced by
// test/reference/gen_torch_tensor_reference.py with PyTorch 1.13 in float64: for every case block
// (an id and a size n in {1, 3, 8, 17, 64}; batch norms take n + 1 rows), the inputs, the value and the gradient of a scalar
// function of tensors. Each id is rebuilt here as an etgrad expression over shaped variables of the
// same shapes, bound to the block's inputs (as spans, so that the run-time size check runs too),
// and compared in double (value and every gradient element to a relative 1e-12) and in float (to a
// relative 1e-4). The evaluation without gradient must give the same value.
// The test fails on an id it does not know, on an id it knows but the file lacks, and when the
// number of blocks differs from the file's last line.

#include <catch2/catch.hpp>

// GCC 12 at -O3 reports the size loops of never-taken instantiations as undefined behaviour
// (-Waggressive-loop-optimizations) in this file of 480 instantiations; the values are checked below.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Waggressive-loop-optimizations"
#pragma GCC diagnostic ignored "-Wrestrict"
#endif

#include <etgrad/etgrad.hpp>

#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#ifndef ETGRAD_TORCH_TENSOR_REFERENCE_FILE
#error "define ETGRAD_TORCH_TENSOR_REFERENCE_FILE as a string literal naming test/reference/torch_tensor_reference.txt"
#endif

namespace {
namespace eg = etgrad;

struct block {
    std::string id;
    std::size_t n = 0;
    std::vector<std::pair<std::string, std::vector<double>>> in;
    double value = 0;
    std::map<std::string, std::vector<double>> grad;
    const std::vector<double>& input(const std::string& name) const {
        for (const auto& [k, v] : in) {
            if (k == name) {
                return v;
            }
        }
        FAIL("case " << id << " " << n << ": no input " << name);
        static std::vector<double> none;
        return none;
    }
};

std::vector<block> read_blocks(std::size_t& declared) {
    std::ifstream f(ETGRAD_TORCH_TENSOR_REFERENCE_FILE);
    REQUIRE(f.good());
    std::vector<block> r;
    std::string line;
    while (std::getline(f, line)) {
        if (line.rfind("# cases ", 0) == 0) {
            declared = std::stoul(line.substr(8));
        }
        if (line.empty() || line[0] == '#') {
            continue;
        }
        std::istringstream ls(line);
        std::string tag;
        ls >> tag;
        if (tag == "case") {
            r.emplace_back();
            ls >> r.back().id >> r.back().n;
        } else if (tag == "in" || tag == "grad") {
            std::string name;
            std::size_t count = 0;
            ls >> name >> count;
            std::vector<double> v(count);
            for (auto& x : v) {
                std::string t;
                ls >> t;
                x = std::strtod(t.c_str(), nullptr);
            }
            if (tag == "in") {
                r.back().in.emplace_back(name, v);
            } else {
                r.back().grad[name] = v;
            }
        } else if (tag == "value") {
            std::string t;
            ls >> t;
            r.back().value = std::strtod(t.c_str(), nullptr);
        }
    }
    return r;
}

template <class T>
constexpr double rel_tol = std::is_same_v<T, double> ? 1e-12 : 2e-4;

bool close(double got, double want, double rel, double abs) {
    return std::abs(got - want) <= abs + rel * std::abs(want);
}

template <class T, class E>
std::vector<double> flat(const E& e) {
    if constexpr (std::is_arithmetic_v<E>) {
        return {static_cast<double>(e)};
    } else {
        return std::vector<double>(e.begin(), e.end());
    }
}

/// A named variable of a case: its name in the file and the etgrad variable.
template <class V>
struct named {
    const char* name;
    V var;
};
template <class V>
named(const char*, V) -> named<V>;

/// Inputs converted to T, kept alive for the call.
template <class T>
struct inputs {
    std::vector<std::vector<T>> store;
    template <class V>
    auto bind(const block& b, const named<V>& nv) {
        const auto& src = b.input(nv.name);
        if constexpr (V::shape_type::rank == 0) {
            return nv.var = static_cast<T>(src.at(0));
        } else {
            store.emplace_back(src.begin(), src.end());
            return nv.var = std::span<const T>(store.back());
        }
    }
};

template <class T, class F, class... V>
void check_case(const block& b, const F& f, const named<V>&... vars) {
    INFO("case " << b.id << " n=" << b.n << (std::is_same_v<T, float> ? " (float)" : " (double)"));
    inputs<T> in;
    in.store.reserve(sizeof...(V));
    auto run = [&](const auto&... bs) {
        // Not a structured binding: Clang 14 cannot capture one in a lambda.
        const auto vg = eg::value_and_grad(f, eg::wrt(vars.var...), bs...);
        const auto& val = vg.value;
        const auto& g = vg.grad;
        CHECK(close(val, b.value, rel_tol<T>, rel_tol<T> * 1e-1));
        const T plain = f(bs...);
        CHECK(close(plain, val, 1e-15, 0));
        (
            [&] {
                if (b.grad.count(vars.name) == 0) {
                    return;  // a label: no gradient
                }
                const auto& want = b.grad.at(vars.name);
                const auto got = flat<T>(g[vars.var]);
                REQUIRE(got.size() == want.size());
                for (std::size_t k = 0; k < want.size(); ++k) {
                    INFO(vars.name << "[" << k << "] = " << got[k] << ", PyTorch " << want[k]);
                    CHECK(close(got[k], want[k], rel_tol<T>, rel_tol<T> * 1e-1));
                }
            }(),
            ...);
    };
    run(in.bind(b, vars)...);
}

template <class T, std::size_t N>
bool run_elementwise(const block& b);

/// The case registered under b.id, at the compile-time size N.
template <class T, std::size_t N>
bool run_case(const block& b) {
    using eg::shape;
    const std::string& id = b.id;
#define ETGRAD_V(NAME, ...) named{NAME, eg::var<NAME, shape<__VA_ARGS__>>}
#define ETGRAD_S(NAME) named{NAME, eg::var<NAME>}
    if (id == "dot") {
        auto a = ETGRAD_V("a", N);
        auto c = ETGRAD_V("b", N);
        check_case<T>(b, eg::dot(a.var, c.var), a, c);
    } else if (id == "matvec") {
        auto W = ETGRAD_V("W", N, 5);
        auto x = ETGRAD_V("x", 5);
        auto c = ETGRAD_V("b", N);
        check_case<T>(b, eg::sum(eg::tanh(eg::matvec(W.var, x.var) + c.var)), W, x, c);
    } else if (id == "matvec_t") {
        auto W = ETGRAD_V("W", 4, N);
        auto x = ETGRAD_V("x", N);
        check_case<T>(b, eg::sum(eg::sin(eg::matvec(W.var, x.var))), W, x);
    } else if (id == "matmul") {
        auto A = ETGRAD_V("A", N, 3);
        auto B = ETGRAD_V("B", 3, N);
        check_case<T>(b, eg::sum(eg::sin(eg::matmul(A.var, B.var))), A, B);
    } else if (id == "outer") {
        auto a = ETGRAD_V("a", N);
        auto c = ETGRAD_V("b", 4);
        check_case<T>(b, eg::sum(eg::square(eg::outer(a.var, c.var)) * 0.5), a, c);
    } else if (id == "transpose") {
        auto A = ETGRAD_V("A", N, 2);
        auto B = ETGRAD_V("B", 2, N);
        check_case<T>(b, eg::sum(eg::transpose(A.var) * B.var), A, B);
    } else if (id == "softmax") {
        auto z = ETGRAD_V("z", N);
        auto w = ETGRAD_V("w", N);
        check_case<T>(b, eg::sum(eg::softmax(z.var) * w.var), z, w);
    } else if (id == "log_softmax") {
        auto z = ETGRAD_V("z", N);
        auto w = ETGRAD_V("w", N);
        check_case<T>(b, eg::sum(eg::log_softmax(z.var) * w.var), z, w);
    } else if (id == "softmax_rows") {
        auto Z = ETGRAD_V("Z", 3, N);
        auto w = ETGRAD_V("w", 3, N);
        check_case<T>(b, eg::sum(eg::softmax(Z.var) * w.var), Z, w);
    } else if (id == "logsumexp") {
        auto z = ETGRAD_V("z", N);
        check_case<T>(b, eg::logsumexp(z.var), z);
    } else if (id == "max") {
        auto z = ETGRAD_V("z", N);
        check_case<T>(b, eg::max(z.var), z);
    } else if (id == "mean_sq") {
        auto x = ETGRAD_V("x", N);
        check_case<T>(b, eg::mean(eg::pow(x.var, eg::c<2>)), x);
    } else if (id == "sum_cube") {
        auto x = ETGRAD_V("x", N);
        check_case<T>(b, eg::sum(eg::pow(x.var, eg::c<3>)), x);
    } else if (id == "broadcast_row") {
        auto M = ETGRAD_V("M", 3, N);
        auto r = ETGRAD_V("r", N);
        check_case<T>(b, eg::sum(eg::exp(0.1 * (M.var + r.var))), M, r);
    } else if (id == "broadcast_col") {
        auto M = ETGRAD_V("M", N, 3);
        auto c = ETGRAD_V("c", N, 1);
        check_case<T>(b, eg::sum(M.var * c.var + c.var), M, c);
    } else if (id == "broadcast_scalar") {
        auto s = ETGRAD_S("s");
        auto v = ETGRAD_V("v", N);
        check_case<T>(b, eg::sum(s.var * v.var + s.var * s.var), s, v);
    } else if (id == "at") {
        auto v = ETGRAD_V("v", N);
        check_case<T>(b, v.var[eg::c<N - 1>] * v.var[eg::c<0>] + eg::at<N / 2>(v.var), v);
    } else if (id == "pick") {
        auto z = ETGRAD_V("z", N);
        auto l = ETGRAD_S("label");
        check_case<T>(b, eg::pick(z.var, l.var), z, l);
    } else if (id == "cross_entropy") {
        auto z = ETGRAD_V("z", N);
        auto l = ETGRAD_S("label");
        check_case<T>(b, eg::logsumexp(z.var) - eg::pick(z.var, l.var), z, l);
    } else if (id == "batch_norm") {
        auto X = ETGRAD_V("X", N + 1, 4);
        auto w = ETGRAD_V("w", 4);
        auto c0 = ETGRAD_V("b", 4);
        auto c = ETGRAD_V("c", N + 1, 4);
        check_case<T>(b, eg::sum((eg::batch_standardize(X.var) * w.var + c0.var) * c.var), X, w, c0, c);
    } else if (id == "bn_net") {
        // The layers' own variables, bound under the file's names.
        constexpr auto fc1 = eg::nn::linear<"fc1", 5, 6>;
        constexpr auto bn = eg::nn::batch_norm<"bn", 6>;
        constexpr auto fc2 = eg::nn::linear<"fc2", 6, 3>;
        auto X = ETGRAD_V("X", N + 1, 5);
        auto l = ETGRAD_V("labels", N + 1);
        const auto W1 = named{"W1", fc1.weight};
        const auto b1 = named{"b1", fc1.bias};
        const auto gamma = named{"gamma", bn.weight};
        const auto beta = named{"beta", bn.bias};
        const auto W2 = named{"W2", fc2.weight};
        const auto b2 = named{"b2", fc2.bias};
        const auto loss = eg::mean(eg::nn::cross_entropy(fc2(eg::tanh(bn(fc1(X.var)))), l.var));
        check_case<T>(b, loss, X, l, W1, b1, gamma, beta, W2, b2);
    } else {
        return run_elementwise<T, N>(b);
    }
#undef ETGRAD_V
#undef ETGRAD_S
    return true;
}
}  // namespace

// (Declared after the namespace so that run_case can call it.)
namespace {
template <class T, std::size_t N>
bool run_elementwise(const block& b) {
    const auto x = named{"x", eg::var<"x", eg::shape<N>>};
    const auto y = named{"y", eg::var<"y", eg::shape<N>>};
    const std::string& id = b.id;
#define ETGRAD_U(NAME, FN) \
    if (id == "ew_" NAME) { check_case<T>(b, eg::sum(FN(x.var)), x); return true; }
#define ETGRAD_B(NAME, EXPR) \
    if (id == "ew_" NAME) { const auto& X = x.var; const auto& Y = y.var; check_case<T>(b, eg::sum(EXPR), x, y); return true; }
    ETGRAD_U("exp", eg::exp)
    ETGRAD_U("log", eg::log)
    ETGRAD_U("log1p", eg::log1p)
    ETGRAD_U("expm1", eg::expm1)
    ETGRAD_U("sqrt", eg::sqrt)
    ETGRAD_U("cbrt", eg::cbrt)
    ETGRAD_U("sin", eg::sin)
    ETGRAD_U("cos", eg::cos)
    ETGRAD_U("tan", eg::tan)
    ETGRAD_U("asin", eg::asin)
    ETGRAD_U("acos", eg::acos)
    ETGRAD_U("atan", eg::atan)
    ETGRAD_U("sinh", eg::sinh)
    ETGRAD_U("cosh", eg::cosh)
    ETGRAD_U("tanh", eg::tanh)
    ETGRAD_U("sigmoid", eg::sigmoid)
    ETGRAD_U("softplus", eg::softplus)
    ETGRAD_U("relu", eg::relu)
    ETGRAD_U("abs", eg::abs)
    ETGRAD_U("erf", eg::erf)
    ETGRAD_U("square", eg::square)
    ETGRAD_B("add", X + Y)
    ETGRAD_B("sub", X - Y)
    ETGRAD_B("mul", X * Y)
    ETGRAD_B("div", X / Y)
    ETGRAD_B("pow", eg::pow(X, Y))
    ETGRAD_B("atan2", eg::atan2(X, Y))
    ETGRAD_B("max", eg::max(X, Y))
    ETGRAD_B("min", eg::min(X, Y))
#undef ETGRAD_U
#undef ETGRAD_B
    return false;
}

template <class T>
bool dispatch(const block& b) {
    switch (b.n) {
        case 1: return run_case<T, 1>(b);
        case 3: return run_case<T, 3>(b);
        case 8: return run_case<T, 8>(b);
        case 17: return run_case<T, 17>(b);
        case 64: return run_case<T, 64>(b);
        default: return false;
    }
}
}  // namespace

TEST_CASE("tensor operations agree with PyTorch 1.13 (value and gradient, double and float)", "[tensor][torch]") {
    std::size_t declared = 0;
    const auto blocks = read_blocks(declared);
    REQUIRE(blocks.size() == declared);
    REQUIRE(blocks.size() >= 250);
    std::set<std::string> ids;
    for (const auto& b : blocks) {
        INFO("case " << b.id << " n=" << b.n);
        CHECK(dispatch<double>(b));
        CHECK(dispatch<float>(b));
        ids.insert(b.id);
    }
    CHECK(ids.size() == 50);  // every registered id (a new one must be added here and in the generator)
}
