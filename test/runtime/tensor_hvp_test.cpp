// tensor_hvp_test.cpp -- eg::hvp with shaped variables against PyTorch 1.13's
// torch.autograd.functional.hvp (test/reference/torch_hvp_reference.txt, made by
// test/reference/gen_torch_hvp_reference.py), against central differences of the gradient, and
// the symmetry u·(H v) = v·(H u); and over data (x = eg::rows<5>(X), y = labels, a loss reduced over
// the samples): against PyTorch, the mean of per-sample scalar hvps, central differences of the data
// gradient, and the symmetry.
#include <catch2/catch.hpp>
#include <etgrad/etgrad.hpp>

#include <array>
#include <cmath>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#ifndef ETGRAD_TORCH_HVP_REFERENCE_FILE
#error "define ETGRAD_TORCH_HVP_REFERENCE_FILE as a string literal naming test/reference/torch_hvp_reference.txt"
#endif

namespace eg = etgrad;

namespace {
struct hvp_case {
    std::map<std::string, std::vector<double>> in, dir, hvp;
    double value = 0;
};

std::map<std::string, hvp_case> read_cases() {
    std::ifstream f(ETGRAD_TORCH_HVP_REFERENCE_FILE);
    REQUIRE(f.good());
    std::map<std::string, hvp_case> r;
    std::string line, id;
    while (std::getline(f, line)) {
        if (line.empty() || line[0] == '#') {
            continue;
        }
        std::istringstream ls(line);
        std::string tag;
        ls >> tag;
        if (tag == "case") {
            ls >> id;
        } else if (tag == "in" || tag == "dir" || tag == "hvp") {
            std::string name;
            std::size_t n = 0;
            ls >> name >> n;
            std::vector<double> v(n);
            for (auto& x : v) {
                std::string t;
                ls >> t;
                x = std::strtod(t.c_str(), nullptr);
            }
            (tag == "in" ? r[id].in : tag == "dir" ? r[id].dir : r[id].hvp)[name] = v;
        } else if (tag == "value") {
            ls >> r[id].value;
        }
    }
    return r;
}

template <std::size_t N>
std::array<double, N> arr(const std::vector<double>& v) {
    REQUIRE(v.size() == N);
    std::array<double, N> a{};
    for (std::size_t i = 0; i < N; ++i) {
        a[i] = v[i];
    }
    return a;
}

template <class G>
void check_entry(const G& got, const std::vector<double>& want, const char* name) {
    if constexpr (std::is_arithmetic_v<G>) {
        REQUIRE(want.size() == 1);
        INFO(name);
        CHECK(got == Approx(want[0]).epsilon(1e-12).margin(1e-14));
    } else {
        REQUIRE(want.size() == got.size());
        for (std::size_t i = 0; i < want.size(); ++i) {
            INFO(name << "[" << i << "] = " << got.data()[i] << ", PyTorch " << want[i]);
            CHECK(got.data()[i] == Approx(want[i]).epsilon(1e-12).margin(1e-14));
        }
    }
}
}  // namespace

TEST_CASE("hvp with shaped variables agrees with PyTorch's torch.autograd.functional.hvp", "[tensor][hvp][torch]") {
    const auto cases = read_cases();
    REQUIRE(cases.size() == 7);
    {
        const auto& c = cases.at("mlp");
        constexpr auto W = eg::var<"W", eg::shape<2, 3>>;
        constexpr auto x = eg::var<"x", eg::shape<3>>;
        constexpr auto s = eg::var<"s">;
        constexpr auto f = eg::logsumexp(eg::tanh(eg::matvec(W, x)) * s) + eg::sum(eg::square(x)) * s;
        const auto h = eg::hvp(f, eg::tangent(W = arr<6>(c.dir.at("W")), x = arr<3>(c.dir.at("x")), s = c.dir.at("s")[0]),
                               W = arr<6>(c.in.at("W")), x = arr<3>(c.in.at("x")), s = c.in.at("s")[0]);
        CHECK(f(W = arr<6>(c.in.at("W")), x = arr<3>(c.in.at("x")), s = c.in.at("s")[0]) == Approx(c.value).epsilon(1e-14));
        check_entry(h[W], c.hvp.at("W"), "W");
        check_entry(h[x], c.hvp.at("x"), "x");
        check_entry(h[s], c.hvp.at("s"), "s");
    }
    {
        const auto& c = cases.at("softmax_net");
        constexpr auto x = eg::var<"x", eg::shape<5>>;
        constexpr auto W1 = eg::var<"W1", eg::shape<4, 5>>;
        constexpr auto b1 = eg::var<"b1", eg::shape<4>>;
        constexpr auto W2 = eg::var<"W2", eg::shape<3, 4>>;
        constexpr auto b2 = eg::var<"b2", eg::shape<3>>;
        constexpr auto label = eg::var<"label">;
        constexpr auto z = eg::matvec(W2, eg::tanh(eg::matvec(W1, x) + b1)) + b2;
        constexpr auto f = eg::logsumexp(z) - eg::pick(z, label);
        // The label is not differentiable: hvp over the others (eg::wrt), the label's direction absent.
        const auto h = eg::hvp(f,
                               eg::tangent(x = arr<5>(c.dir.at("x")), W1 = arr<20>(c.dir.at("W1")), b1 = arr<4>(c.dir.at("b1")),
                                           W2 = arr<12>(c.dir.at("W2")), b2 = arr<3>(c.dir.at("b2"))),
                               eg::wrt(x, W1, b1, W2, b2), x = arr<5>(c.in.at("x")), W1 = arr<20>(c.in.at("W1")),
                               b1 = arr<4>(c.in.at("b1")), W2 = arr<12>(c.in.at("W2")), b2 = arr<3>(c.in.at("b2")),
                               label = c.in.at("label")[0]);
        check_entry(h[x], c.hvp.at("x"), "x");
        check_entry(h[W1], c.hvp.at("W1"), "W1");
        check_entry(h[b1], c.hvp.at("b1"), "b1");
        check_entry(h[W2], c.hvp.at("W2"), "W2");
        check_entry(h[b2], c.hvp.at("b2"), "b2");
    }
    {
        const auto& c = cases.at("bn_net");
        constexpr auto X = eg::var<"X", eg::shape<6, 5>>;
        constexpr auto labels = eg::var<"labels", eg::shape<6>>;
        constexpr auto fc1 = eg::nn::linear<"fc1", 5, 4>;
        constexpr auto bn = eg::nn::batch_norm<"bn", 4>;
        constexpr auto fc2 = eg::nn::linear<"fc2", 4, 3>;
        constexpr auto f = eg::mean(eg::nn::cross_entropy(fc2(eg::tanh(bn(fc1(X)))), labels));
        const auto h = eg::hvp(
            f,
            eg::tangent(X = arr<30>(c.dir.at("X")), fc1.weight = arr<20>(c.dir.at("W1")), fc1.bias = arr<4>(c.dir.at("b1")),
                        bn.weight = arr<4>(c.dir.at("gamma")), bn.bias = arr<4>(c.dir.at("beta")),
                        fc2.weight = arr<12>(c.dir.at("W2")), fc2.bias = arr<3>(c.dir.at("b2"))),
            eg::wrt(X, fc1.weight, fc1.bias, bn.weight, bn.bias, fc2.weight, fc2.bias), X = arr<30>(c.in.at("X")),
            labels = arr<6>(c.in.at("labels")), fc1.weight = arr<20>(c.in.at("W1")), fc1.bias = arr<4>(c.in.at("b1")),
            bn.weight = arr<4>(c.in.at("gamma")), bn.bias = arr<4>(c.in.at("beta")), fc2.weight = arr<12>(c.in.at("W2")),
            fc2.bias = arr<3>(c.in.at("b2")));
        check_entry(h[X], c.hvp.at("X"), "X");
        check_entry(h[fc1.weight], c.hvp.at("W1"), "W1");
        check_entry(h[fc1.bias], c.hvp.at("b1"), "b1");
        check_entry(h[bn.weight], c.hvp.at("gamma"), "gamma");
        check_entry(h[bn.bias], c.hvp.at("beta"), "beta");
        check_entry(h[fc2.weight], c.hvp.at("W2"), "W2");
        check_entry(h[fc2.bias], c.hvp.at("b2"), "b2");
    }
}

TEST_CASE("hvp with shaped variables: central differences of the gradient, symmetry, float", "[tensor][hvp]") {
    constexpr auto W = eg::var<"W", eg::shape<3, 4>>;
    constexpr auto x = eg::var<"x", eg::shape<4>>;
    constexpr auto f = eg::sum(eg::softplus(eg::matvec(W, x))) + eg::logsumexp(x * x) + eg::max(eg::sin(x));
    std::array<double, 12> w{};
    std::array<double, 4> x0{0.3, -0.7, 1.1, 0.2};
    std::array<double, 12> u{}, v{};
    std::array<double, 4> ux{0.2, 0.1, -0.4, 1.0}, vx{-0.5, 0.3, 0.8, 0.1};
    for (std::size_t i = 0; i < 12; ++i) {
        w[i] = std::sin(0.9 * static_cast<double>(i)) * 0.5;
        u[i] = std::cos(1.7 * static_cast<double>(i));
        v[i] = std::sin(2.3 * static_cast<double>(i) + 1);
    }
    const auto hv = eg::hvp(f, eg::tangent(W = v, x = vx), W = w, x = x0);
    const auto hu = eg::hvp(f, eg::tangent(W = u, x = ux), W = w, x = x0);
    // Central differences of the gradient along v.
    const double e = 1e-6;
    auto wp = w, wm = w;
    auto xp = x0, xm = x0;
    for (std::size_t i = 0; i < 12; ++i) {
        wp[i] += e * v[i];
        wm[i] -= e * v[i];
    }
    for (std::size_t i = 0; i < 4; ++i) {
        xp[i] += e * vx[i];
        xm[i] -= e * vx[i];
    }
    const auto gp = eg::grad(f, W = wp, x = xp);
    const auto gm = eg::grad(f, W = wm, x = xm);
    for (std::size_t i = 0; i < 12; ++i) {
        CHECK(hv[W].data()[i] == Approx((gp[W].data()[i] - gm[W].data()[i]) / (2 * e)).epsilon(1e-6).margin(1e-8));
    }
    for (std::size_t i = 0; i < 4; ++i) {
        CHECK(hv[x](i) == Approx((gp[x](i) - gm[x](i)) / (2 * e)).epsilon(1e-6).margin(1e-8));
    }
    // Symmetry of the Hessian: u·(Hv) = v·(Hu).
    double uhv = 0, vhu = 0;
    for (std::size_t i = 0; i < 12; ++i) {
        uhv += u[i] * hv[W].data()[i];
        vhu += v[i] * hu[W].data()[i];
    }
    for (std::size_t i = 0; i < 4; ++i) {
        uhv += ux[i] * hv[x](i);
        vhu += vx[i] * hu[x](i);
    }
    CHECK(uhv == Approx(vhu).epsilon(1e-12));
    // A direction that names only x: W's tangent is 0; with eg::wrt(x), only x's entry.
    const auto hx = eg::hvp(f, eg::tangent(x = vx), eg::wrt(x), W = w, x = x0);
    const auto hx_all = eg::hvp(f, eg::tangent(W = std::array<double, 12>{}, x = vx), W = w, x = x0);
    for (std::size_t i = 0; i < 4; ++i) {
        CHECK(hx[x](i) == hx_all[x](i));
    }
    // Float values: the same in float, to float's rounding.
    std::array<float, 12> wf{};
    std::array<float, 4> xf{}, vxf{};
    for (std::size_t i = 0; i < 12; ++i) {
        wf[i] = static_cast<float>(w[i]);
    }
    for (std::size_t i = 0; i < 4; ++i) {
        xf[i] = static_cast<float>(x0[i]);
        vxf[i] = static_cast<float>(vx[i]);
    }
    const auto hf = eg::hvp(f, eg::tangent(x = vxf), eg::wrt(x), W = wf, x = xf);
    static_assert(std::is_same_v<std::remove_cvref_t<decltype(hf[x])>, eg::tensor<float, eg::shape<4>>>);
    for (std::size_t i = 0; i < 4; ++i) {
        CHECK(hf[x](i) == Approx(hx[x](i)).epsilon(1e-4).margin(1e-5));
    }
}

namespace {
// hvp over data: a 5 -> 4 -> 3 tanh MLP with softmax cross-entropy per sample (gen_torch_hvp_reference.py's
// data_ce), reduced over the rows of X.
constexpr auto dx = eg::var<"x", eg::shape<5>>;
constexpr auto dW1 = eg::var<"W1", eg::shape<4, 5>>;
constexpr auto db1 = eg::var<"b1", eg::shape<4>>;
constexpr auto dW2 = eg::var<"W2", eg::shape<3, 4>>;
constexpr auto db2 = eg::var<"b2", eg::shape<3>>;
constexpr auto dy = eg::var<"y">;
constexpr auto dz = eg::matvec(dW2, eg::tanh(eg::matvec(dW1, dx) + db1)) + db2;
constexpr auto dce = eg::logsumexp(dz) - eg::pick(dz, dy);
constexpr auto dloss = eg::mean(dce);

/// The parameters (or a direction) of the MLP, flat.
template <class T>
struct mlp_params {
    std::array<T, 20> W1{};
    std::array<T, 4> b1{};
    std::array<T, 12> W2{};
    std::array<T, 3> b2{};
    static mlp_params make(double a, double b) {
        mlp_params p;
        std::size_t k = 0;
        const auto fill = [&](auto& v, double scale) {
            for (auto& e : v) {
                e = static_cast<T>(scale * std::sin(a * static_cast<double>(k++) + b));
            }
        };
        fill(p.W1, 0.6);
        fill(p.b1, 0.3);
        fill(p.W2, 0.7);
        fill(p.b2, 0.2);
        return p;
    }
    mlp_params axpy(double h, const mlp_params& d) const {
        mlp_params r = *this;
        for (std::size_t i = 0; i < 20; ++i) {
            r.W1[i] += static_cast<T>(h) * d.W1[i];
        }
        for (std::size_t i = 0; i < 4; ++i) {
            r.b1[i] += static_cast<T>(h) * d.b1[i];
        }
        for (std::size_t i = 0; i < 12; ++i) {
            r.W2[i] += static_cast<T>(h) * d.W2[i];
        }
        for (std::size_t i = 0; i < 3; ++i) {
            r.b2[i] += static_cast<T>(h) * d.b2[i];
        }
        return r;
    }
    template <class U>
    mlp_params<U> as() const {
        mlp_params<U> r;
        const auto copy = [](auto& to, const auto& from) {
            for (std::size_t i = 0; i < from.size(); ++i) {
                to[i] = static_cast<U>(from[i]);
            }
        };
        copy(r.W1, W1);
        copy(r.b1, b1);
        copy(r.W2, W2);
        copy(r.b2, b2);
        return r;
    }
};

/// H·v over data: the gradient record's entries in one flat vector (W1, b1, W2, b2).
template <class G>
std::vector<double> flat(const G& g) {
    std::vector<double> r;
    for (std::size_t i = 0; i < 20; ++i) {
        r.push_back(static_cast<double>(g[dW1].data()[i]));
    }
    for (std::size_t i = 0; i < 4; ++i) {
        r.push_back(static_cast<double>(g[db1](i)));
    }
    for (std::size_t i = 0; i < 12; ++i) {
        r.push_back(static_cast<double>(g[dW2].data()[i]));
    }
    for (std::size_t i = 0; i < 3; ++i) {
        r.push_back(static_cast<double>(g[db2](i)));
    }
    return r;
}
template <class T>
std::vector<double> flat(const mlp_params<T>& p) {
    std::vector<double> r;
    for (auto v : p.W1) {
        r.push_back(static_cast<double>(v));
    }
    for (auto v : p.b1) {
        r.push_back(static_cast<double>(v));
    }
    for (auto v : p.W2) {
        r.push_back(static_cast<double>(v));
    }
    for (auto v : p.b2) {
        r.push_back(static_cast<double>(v));
    }
    return r;
}
double dot(const std::vector<double>& a, const std::vector<double>& b) {
    double s = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        s += a[i] * b[i];
    }
    return s;
}

template <class T>
auto data_hvp(const mlp_params<T>& p, const mlp_params<T>& v, const std::vector<T>& X, const std::vector<int>& Y) {
    return eg::hvp(dloss, eg::tangent(dW1 = v.W1, db1 = v.b1, dW2 = v.W2, db2 = v.b2), dW1 = p.W1, db1 = p.b1,
                   dW2 = p.W2, db2 = p.b2, dx = eg::rows<5>(X), dy = Y);
}
}  // namespace

TEST_CASE("hvp over data agrees with PyTorch's torch.autograd.functional.hvp of a mean over rows", "[tensor][hvp][torch][data]") {
    const auto cases = read_cases();
    for (const char* id : {"data_net_1", "data_net_7", "data_net_37", "data_reg_7"}) {
        INFO(id);
        const auto& c = cases.at(id);
        const std::vector<double> X = c.in.at("X");
        std::vector<int> Y;
        for (double l : c.in.at("labels")) {
            Y.push_back(static_cast<int>(l));
        }
        REQUIRE(X.size() == 5 * Y.size());
        // A tangent views its arrays: they outlive it.
        const auto v1 = arr<20>(c.dir.at("W1"));
        const auto vb1 = arr<4>(c.dir.at("b1"));
        const auto v2 = arr<12>(c.dir.at("W2"));
        const auto vb2 = arr<3>(c.dir.at("b2"));
        const auto t = eg::tangent(dW1 = v1, db1 = vb1, dW2 = v2, db2 = vb2);
        const auto w1 = arr<20>(c.in.at("W1"));
        const auto bb1 = arr<4>(c.in.at("b1"));
        const auto w2 = arr<12>(c.in.at("W2"));
        const auto bb2 = arr<3>(c.in.at("b2"));
        const auto check = [&](const auto& h, const auto& loss) {
            static_assert(std::is_same_v<std::remove_cvref_t<decltype(h[dW1])>, eg::tensor<double, eg::shape<4, 5>>>);
            CHECK(loss(dW1 = w1, db1 = bb1, dW2 = w2, db2 = bb2, dx = eg::rows<5>(X), dy = Y) ==
                  Approx(c.value).epsilon(1e-13));
            check_entry(h[dW1], c.hvp.at("W1"), "W1");
            check_entry(h[db1], c.hvp.at("b1"), "b1");
            check_entry(h[dW2], c.hvp.at("W2"), "W2");
            check_entry(h[db2], c.hvp.at("b2"), "b2");
        };
        if (std::string(id) == "data_reg_7") {
            // Linear in two reductions (a mean and a sum) with constant coefficients, plus a term
            // of the parameters alone.
            constexpr auto reg = 2.0 * eg::mean(dce) - 0.25 * eg::sum(dce) + 0.01 * eg::sum(dW1 * dW1);
            check(eg::hvp(reg, t, dW1 = w1, db1 = bb1, dW2 = w2, db2 = bb2, dx = eg::rows<5>(X), dy = Y), reg);
        } else {
            // Every variable by default: the data (x, y) are left out of the record.
            check(eg::hvp(dloss, t, dW1 = w1, db1 = bb1, dW2 = w2, db2 = bb2, dx = eg::rows<5>(X), dy = Y), dloss);
        }
    }
}

TEST_CASE("hvp over data: per-sample hvps, central differences of the data gradient, symmetry, float",
          "[tensor][hvp][data]") {
    const auto p = mlp_params<double>::make(0.9, 0.1);
    const auto v = mlp_params<double>::make(2.3, 1.0);
    const auto u = mlp_params<double>::make(1.7, -0.4);
    for (std::size_t n : {std::size_t{1}, std::size_t{7}, std::size_t{37}}) {
        INFO("n = " << n);
        std::vector<double> X(5 * n);
        std::vector<int> Y(n);
        for (std::size_t i = 0; i < X.size(); ++i) {
            X[i] = std::sin(0.37 * static_cast<double>(i) + 0.2) * 1.5;
        }
        for (std::size_t s = 0; s < n; ++s) {
            Y[s] = static_cast<int>((s * 7 + 1) % 3);
        }
        const auto hv = flat(data_hvp(p, v, X, Y));
        // (a) The Hessian of a mean is the mean of the per-sample Hessians: one sample bound as arrays
        // at a time (a scalar call), summed in sample order.
        std::vector<double> mean(hv.size());
        for (std::size_t s = 0; s < n; ++s) {
            std::array<double, 5> xs{};
            for (std::size_t j = 0; j < 5; ++j) {
                xs[j] = X[s * 5 + j];
            }
            const auto hs = flat(eg::hvp(dce, eg::tangent(dW1 = v.W1, db1 = v.b1, dW2 = v.W2, db2 = v.b2),
                                         eg::wrt(dW1, db1, dW2, db2), dW1 = p.W1, db1 = p.b1, dW2 = p.W2, db2 = p.b2,
                                         dx = xs, dy = static_cast<double>(Y[s])));
            for (std::size_t i = 0; i < hs.size(); ++i) {
                mean[i] += hs[i];
            }
        }
        for (std::size_t i = 0; i < hv.size(); ++i) {
            INFO("entry " << i);
            CHECK(hv[i] == Approx(mean[i] / static_cast<double>(n)).epsilon(1e-12).margin(1e-15));
        }
        // (b) Central differences of the data gradient along v.
        const double h = 1e-5;
        const auto pp = p.axpy(h, v), pm = p.axpy(-h, v);
        const auto gp = flat(eg::grad(dloss, dW1 = pp.W1, db1 = pp.b1, dW2 = pp.W2, db2 = pp.b2, dx = eg::rows<5>(X), dy = Y));
        const auto gm = flat(eg::grad(dloss, dW1 = pm.W1, db1 = pm.b1, dW2 = pm.W2, db2 = pm.b2, dx = eg::rows<5>(X), dy = Y));
        for (std::size_t i = 0; i < hv.size(); ++i) {
            INFO("entry " << i);
            CHECK(hv[i] == Approx((gp[i] - gm[i]) / (2 * h)).epsilon(1e-6).margin(1e-9));
        }
        // (c) Symmetry: u·(Hv) = v·(Hu).
        const auto hu = flat(data_hvp(p, u, X, Y));
        CHECK(dot(flat(u), hv) == Approx(dot(flat(v), hu)).epsilon(1e-12));
        // A direction naming only W2, with eg::wrt(W2, b1): the others' tangents are 0.
        const auto h2 = eg::hvp(dloss, eg::tangent(dW2 = v.W2), eg::wrt(dW2, db1), dW1 = p.W1, db1 = p.b1, dW2 = p.W2,
                                db2 = p.b2, dx = eg::rows<5>(X), dy = Y);
        mlp_params<double> v2{};
        v2.W2 = v.W2;
        const auto h2_all = flat(data_hvp(p, v2, X, Y));
        for (std::size_t i = 0; i < 12; ++i) {
            CHECK(h2[dW2].data()[i] == Approx(h2_all[24 + i]).epsilon(1e-14).margin(1e-16));
        }
        for (std::size_t i = 0; i < 4; ++i) {
            CHECK(h2[db1](i) == Approx(h2_all[20 + i]).epsilon(1e-14).margin(1e-16));
        }
        // Float data and parameters: the same to float's rounding.
        std::vector<float> Xf(X.begin(), X.end());
        const auto pf = p.as<float>(), vf = v.as<float>();
        const auto hf_rec = data_hvp(pf, vf, Xf, Y);
        static_assert(std::is_same_v<std::remove_cvref_t<decltype(hf_rec[dW1])>, eg::tensor<float, eg::shape<4, 5>>>);
        const auto hf = flat(hf_rec);
        for (std::size_t i = 0; i < hv.size(); ++i) {
            INFO("entry " << i);
            CHECK(hf[i] == Approx(hv[i]).epsilon(1e-4).margin(1e-5));
        }
    }
}
