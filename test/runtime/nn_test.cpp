// Neural-network pieces: layers' variables, stable losses and their closed-form gradients, the
// parameter store (initialisation, binding in one argument, freezing, save and load), and a small
// network trained on generated data.
#include <catch2/catch.hpp>
#include <etgrad/etgrad.hpp>
#include <etgrad/nn.hpp>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

namespace eg = etgrad;

namespace {
constexpr auto x = eg::var<"x", eg::shape<4>>;
constexpr auto y = eg::var<"y">;
constexpr auto fc1 = eg::nn::linear<"fc1", 4, 6>;
constexpr auto fc2 = eg::nn::linear<"fc2", 6, 3>;
constexpr auto logits = fc2(eg::tanh(fc1(x)));
constexpr auto ce = eg::nn::cross_entropy(logits, y);
constexpr auto loss = eg::mean(ce);

// Layers name their variables as PyTorch does, with PyTorch's shapes.
static_assert(std::is_same_v<std::remove_cv_t<decltype(fc1.weight)>, eg::var_t<"fc1.weight", eg::shape<6, 4>>>);
static_assert(std::is_same_v<std::remove_cv_t<decltype(fc1.bias)>, eg::var_t<"fc1.bias", eg::shape<6>>>);
static_assert(std::is_same_v<eg::shape_of_t<decltype(logits)>, eg::shape<3>>);
static_assert(std::is_same_v<eg::shape_of_t<decltype(ce)>, eg::shape<>>);

std::vector<double> sample_rows() {
    std::vector<double> X;
    for (int i = 0; i < 4 * 37; ++i) {
        X.push_back(std::sin(0.7 * i) + 0.1 * (i % 5));
    }
    return X;
}
std::vector<int> sample_labels(std::size_t n) {
    std::vector<int> ys;
    for (std::size_t s = 0; s < n; ++s) {
        ys.push_back(static_cast<int>((s * 5 + 1) % 3));
    }
    return ys;
}
}  // namespace

TEST_CASE("nn::linear is W x + b, and x Wt + b on a matrix of rows") {
    constexpr auto X2 = eg::var<"X", eg::shape<2, 4>>;
    auto p = eg::parameters(eg::sum(fc1(X2)), eg::inputs(X2), 3);
    const std::array<double, 8> xv{1, 2, 3, 4, -1, 0.5, 0, 2};
    const auto out = eg::evaluate(fc1(X2), p, X2 = xv);
    for (std::size_t r = 0; r < 2; ++r) {
        for (std::size_t o = 0; o < 6; ++o) {
            double want = p[fc1.bias](o);
            for (std::size_t i = 0; i < 4; ++i) {
                want += p[fc1.weight](o, i) * xv[r * 4 + i];
            }
            CHECK(out(r, o) == Approx(want).epsilon(1e-14));
        }
    }
}

TEST_CASE("cross_entropy is finite at logits of +-1000 and its gradient is softmax - onehot") {
    constexpr auto z = eg::var<"z", eg::shape<4>>;
    const std::array<double, 4> zv{1000.0, -1000.0, 999.0, 0.0};
    auto [L, g] = eg::value_and_grad(eg::nn::cross_entropy(z, y), z = zv, y = 2.0);
    const double m = 1000.0;
    double sum = 0;
    for (double v : zv) {
        sum += std::exp(v - m);
    }
    CHECK(std::isfinite(L));
    CHECK(L == Approx(m + std::log(sum) - 999.0).epsilon(1e-14));
    for (std::size_t k = 0; k < 4; ++k) {
        const double softmax = std::exp(zv[k] - m) / sum;
        CHECK(g[z](k) == Approx(softmax - (k == 2 ? 1.0 : 0.0)).margin(1e-15));
    }
}

TEST_CASE("bce_with_logits is finite at +-1000 and its gradient is sigmoid(z) - y") {
    constexpr auto s = eg::var<"s">;
    constexpr auto t = eg::var<"t">;
    for (double zv : {1000.0, -1000.0, 0.3, -7.0}) {
        for (double tv : {0.0, 1.0, 0.25}) {
            auto [L, g] = eg::value_and_grad(eg::nn::bce_with_logits(s, t), eg::wrt(s), s = zv, t = tv);
            const double sig = 1.0 / (1.0 + std::exp(-zv));
            const double want = std::max(zv, 0.0) - zv * tv + std::log1p(std::exp(-std::abs(zv)));
            CHECK(std::isfinite(L));
            CHECK(L == Approx(want).epsilon(1e-13).margin(1e-300));
            CHECK(g[s] == Approx(sig - tv).margin(1e-15));
        }
    }
    // Shaped: the mean over the elements.
    constexpr auto zs = eg::var<"zs", eg::shape<2>>;
    constexpr auto ts = eg::var<"ts", eg::shape<2>>;
    auto [L2, g2] = eg::value_and_grad(eg::nn::bce_with_logits(zs, ts), eg::wrt(zs), zs = std::array{1000.0, -1000.0},
                                       ts = std::array{0.0, 0.0});
    CHECK(L2 == Approx(500.0));
    CHECK(g2[zs](0) == Approx(0.5));
    CHECK(g2[zs](1) == Approx(0.0).margin(1e-300));
}

TEST_CASE("mse is (p - y)^2, averaged over the elements of shaped operands") {
    constexpr auto p = eg::var<"p", eg::shape<3>>;
    constexpr auto q = eg::var<"q", eg::shape<3>>;
    auto [L, g] = eg::value_and_grad(eg::nn::mse(p, q), eg::wrt(p), p = std::array{1.0, 2.0, 4.0},
                                     q = std::array{0.0, 2.0, 1.0});
    CHECK(L == Approx(10.0 / 3.0));
    CHECK(g[p](0) == Approx(2.0 / 3.0));
    CHECK(g[p](1) == 0.0);
    CHECK(g[p](2) == Approx(2.0));
    constexpr auto a = eg::var<"a">;
    CHECK(eg::nn::mse(a, 1.5)(a = 3.5) == 4.0);
}

TEST_CASE("layer_norm matches its definition, per sample, and starts as weight 1, bias 0") {
    constexpr auto ln = eg::nn::layer_norm<"ln", 4>;
    constexpr auto f = eg::sum(eg::square(ln(x)) * eg::c<1, 2>) + eg::sum(ln(x));
    auto p = eg::parameters(f, eg::inputs(x), 0);
    CHECK(p[ln.weight] == eg::tensor<double, eg::shape<4>>{1, 1, 1, 1});
    CHECK(p[ln.bias] == eg::tensor<double, eg::shape<4>>{0, 0, 0, 0});
    p[ln.weight] = {1.5, 0.5, -1, 2};
    p[ln.bias] = {0.1, 0.2, 0.3, -0.4};
    const std::array<double, 4> xv{0.3, -1.2, 2.5, 0.7};
    const auto out = eg::evaluate(ln(x), p, x = xv);
    const double mu = (0.3 - 1.2 + 2.5 + 0.7) / 4;
    double var = 0;
    for (double v : xv) {
        var += (v - mu) * (v - mu) / 4;
    }
    for (std::size_t i = 0; i < 4; ++i) {
        CHECK(out(i) == Approx((xv[i] - mu) / std::sqrt(var + 1e-5) * p[ln.weight](i) + p[ln.bias](i)).epsilon(1e-14));
    }
    // The gradient with respect to x against central differences.
    auto [fv, g] = eg::value_and_grad(f, eg::wrt(x), p, x = xv);
    for (std::size_t i = 0; i < 4; ++i) {
        auto xp = xv, xm = xv;
        const double h = 1e-6;
        xp[i] += h;
        xm[i] -= h;
        const double fd = (eg::evaluate(f, p, x = xp) - eg::evaluate(f, p, x = xm)) / (2 * h);
        CHECK(g[x](i) == Approx(fd).epsilon(1e-7));
    }
    CHECK(std::isfinite(fv));
}

TEST_CASE("parameters: every variable but the inputs, initialised as torch.nn.Linear from a seed") {
    auto p = eg::parameters(loss, eg::inputs(x, y), 42);
    static_assert(decltype(p)::size() == 4);
    static_assert(decltype(p)::numel() == 6 * 4 + 6 + 3 * 6 + 3);
    auto within = [](const auto& t, double bound) {
        double lo = 1, hi = -1;
        for (double v : t) {
            lo = std::min(lo, v);
            hi = std::max(hi, v);
        }
        return lo >= -bound && hi < bound && hi - lo > bound / 2;  // spread over the range, not constant
    };
    CHECK(within(p[fc1.weight], 1 / std::sqrt(4.0)));
    CHECK(within(p[fc1.bias], 1 / std::sqrt(4.0)));
    CHECK(within(p[fc2.weight], 1 / std::sqrt(6.0)));
    CHECK(within(p[fc2.bias], 1 / std::sqrt(6.0)));
    const auto same = eg::parameters(loss, eg::inputs(x, y), 42);
    const auto other = eg::parameters(loss, eg::inputs(x, y), 43);
    CHECK(same[fc1.weight] == p[fc1.weight]);
    CHECK_FALSE(other[fc1.weight] == p[fc1.weight]);
    const auto pf = eg::parameters<float>(loss, eg::inputs(x, y), 42);
    CHECK(pf[fc2.bias](1) == static_cast<float>(p[fc2.bias](1)));
}

TEST_CASE("a store binds in one argument: the same as binding each parameter") {
    const auto p = eg::parameters(loss, eg::inputs(x, y), 5);
    const auto X = sample_rows();
    const auto ys = sample_labels(X.size() / 4);
    auto [L, g] = eg::value_and_grad(loss, p, x = eg::rows<4>(X), y = ys);
    auto [L2, g2] = eg::value_and_grad(loss, eg::wrt(fc1.weight, fc1.bias, fc2.weight, fc2.bias),
                                       fc1.weight = p[fc1.weight], fc1.bias = p[fc1.bias], fc2.weight = p[fc2.weight],
                                       fc2.bias = p[fc2.bias], x = eg::rows<4>(X), y = ys);
    CHECK(L == L2);
    CHECK(g[fc1.weight] == g2[fc1.weight]);
    CHECK(g[fc2.bias] == g2[fc2.bias]);
    // Freezing: eg::wrt names what learns.
    auto [L3, g3] = eg::value_and_grad(loss, eg::wrt(fc2.weight), p, x = eg::rows<4>(X), y = ys);
    static_assert(decltype(g3)::size() == 1);
    CHECK(L3 == L);
    CHECK(g3[fc2.weight] == g[fc2.weight]);
    // grad and plain evaluation take the store too.
    CHECK(eg::grad(loss, p, x = eg::rows<4>(X), y = ys)[fc1.bias] == g[fc1.bias]);
    const std::array<double, 4> x0{X[0], X[1], X[2], X[3]};
    CHECK(eg::evaluate(ce, p, x = x0, y = double(ys[0])) == Approx(eg::value_and_grad(ce, p, x = x0, y = double(ys[0])).value));
}

TEST_CASE("a label out of range throws before anything is written") {
    const auto p = eg::parameters(loss, eg::inputs(x, y), 5);
    const auto X = sample_rows();
    auto ys = sample_labels(X.size() / 4);
    ys[11] = 3;
    std::vector<double> gX(X.size(), -7.0);
    CHECK_THROWS_WITH(eg::value_and_grad(loss, eg::wrt(fc1.weight, x), p, x = eg::rows<4>(X).grad_into(gX), y = ys),
                      Catch::Contains("label 3 of sample 11 is out of range [0, 3)"));
    CHECK(gX == std::vector<double>(X.size(), -7.0));
}

TEST_CASE("save and load: exact, and a file of another model is an error that changes nothing") {
    const std::string path = "etgrad_nn_test_params.txt";
    auto p = eg::parameters<float>(loss, eg::inputs(x, y), 11);
    p[fc1.weight](0, 0) = 0.1f;  // not representable in few digits: the hexadecimal floats are exact
    p.save(path);
    auto q = eg::parameters<float>(loss, eg::inputs(x, y), 12);
    q.load(path);
    CHECK(q[fc1.weight] == p[fc1.weight]);
    CHECK(q[fc2.bias] == p[fc2.bias]);

    // Another model: fc1 of 5 outputs.
    constexpr auto g1 = eg::nn::linear<"fc1", 4, 5>;
    constexpr auto g2 = eg::nn::linear<"fc2", 5, 3>;
    auto r = eg::parameters<float>(eg::nn::cross_entropy(g2(eg::tanh(g1(x))), y), eg::inputs(x, y), 1);
    const auto before = r;
    CHECK_THROWS_WITH(r.load(path), Catch::Contains("fc2.weight of shape 3x6 where this store has fc2.weight of shape 3x5"));
    CHECK(r[g1.weight] == before[g1.weight]);
    CHECK(r[g2.weight] == before[g2.weight]);

    // A corrupted value: an error, and the store unchanged.
    {
        std::ifstream in(path);
        std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        const auto pos = text.rfind(' ');
        text.replace(pos + 1, std::string::npos, "garbage\n");
        std::ofstream(path) << text;
    }
    auto s = eg::parameters<float>(loss, eg::inputs(x, y), 12);
    const auto s0 = s;
    CHECK_THROWS_WITH(s.load(path), Catch::Contains("a bad value for the parameter"));
    CHECK(s[fc1.weight] == s0[fc1.weight]);
    CHECK_THROWS(s.load("no/such/etgrad/file.txt"));
    std::remove(path.c_str());
}

TEST_CASE("a small network learns generated data with SGD and with Adam") {
    // Three classes, each a noisy prototype of 4 features.
    std::vector<float> X;
    std::vector<int> ys;
    const float proto[3][4] = {{1, 0, 0, 0.5f}, {0, 1, 0.5f, 0}, {0.5f, 0, 1, 1}};
    for (int s = 0; s < 300; ++s) {
        const int c = (s * 7) % 3;
        for (int j = 0; j < 4; ++j) {
            X.push_back(proto[c][j] + 0.3f * static_cast<float>(std::sin(1.3 * s + 2.1 * j)));
        }
        ys.push_back(c);
    }
    auto accuracy = [&](const auto& params) {
        int right = 0;
        for (int s = 0; s < 300; ++s) {
            const auto z = eg::evaluate(logits, params, x = std::span<const float>(X).subspan(4 * s, 4));
            right += static_cast<int>(std::max_element(z.begin(), z.end()) - z.begin()) == ys[s];
        }
        return right / 300.0;
    };
    const auto init = eg::parameters<float>(loss, eg::inputs(x, y), 0);
    const auto rows = eg::rows<4>(std::span<const float>(X));
    auto p = init;
    const float L0 = eg::value_and_grad(loss, p, x = rows, y = ys).value;
    eg::optim::sgd sgd(p, {.lr = 0.5, .momentum = 0.9});
    for (int step = 0; step < 200; ++step) {
        sgd.step(eg::grad(loss, p, x = rows, y = ys));
    }
    const float L1 = eg::value_and_grad(loss, p, x = rows, y = ys).value;
    CHECK(L1 < 0.25f * L0);
    CHECK(accuracy(p) > 0.95);

    p = init;
    eg::optim::adam adam(p, {.lr = 1e-2});
    for (int epoch = 0; epoch < 30; ++epoch) {
        for (std::size_t start = 0; start < 300; start += 32) {
            const std::size_t n = std::min<std::size_t>(32, 300 - start);
            adam.step(eg::grad(loss, p, x = eg::rows<4>(std::span<const float>(X).subspan(4 * start, 4 * n)),
                               y = std::span<const int>(ys).subspan(start, n)));
        }
    }
    CHECK(accuracy(p) > 0.95);
}

TEST_CASE("rows in a chosen order: the same as the reordered copy, gradients to the chosen rows") {
    const auto p = eg::parameters(loss, eg::inputs(x, y), 9);
    const auto X = sample_rows();
    const auto ys = sample_labels(X.size() / 4);
    const std::vector<std::size_t> order = {5, 0, 36, 17, 17, 2, 30, 11, 9, 8, 1, 23, 4, 33, 3, 6, 7};
    std::vector<double> Xc;
    std::vector<int> yc;
    for (std::size_t r : order) {
        Xc.insert(Xc.end(), X.begin() + 4 * r, X.begin() + 4 * r + 4);
        yc.push_back(ys[r]);
    }
    std::vector<double> gX(X.size(), 0.0), gXc(Xc.size(), 0.0);
    auto [L, g] = eg::value_and_grad(loss, eg::wrt(fc1.weight, x), p, x = eg::rows<4>(X, order).grad_into(gX),
                                     y = eg::select(ys, order));
    auto [Lc, gc] = eg::value_and_grad(loss, eg::wrt(fc1.weight, x), p, x = eg::rows<4>(Xc).grad_into(gXc), y = yc);
    CHECK(L == Approx(Lc).epsilon(1e-14));
    for (std::size_t i = 0; i < 24; ++i) {
        CHECK(g[fc1.weight][i] == Approx(gc[fc1.weight][i]).epsilon(1e-12).margin(1e-16));
    }
    // Row r's gradient is that of its sample (row 17 is sampled twice: the later one is written).
    for (std::size_t s = 0; s < order.size(); ++s) {
        if (order[s] == 17 && s == 3) {
            continue;
        }
        for (std::size_t j = 0; j < 4; ++j) {
            CHECK(gX[4 * order[s] + j] == Approx(gXc[4 * s + j]).epsilon(1e-12).margin(1e-16));
        }
    }
    CHECK(gX[4 * 10] == 0.0);  // a row not in the order is left as it is
    const std::vector<std::size_t> bad = {1, 37};
    CHECK_THROWS_WITH(eg::rows<4>(X, bad), Catch::Contains("order[1] = 37 is not a row of X (it has 37 rows)"));
    CHECK_THROWS_WITH(eg::select(ys, bad), Catch::Contains("order[1] = 37 is not an index of the labels"));
}

TEST_CASE("eval_into: a model's per-sample outputs for every row, as the per-sample calls") {
    const auto p = eg::parameters<float>(loss, eg::inputs(x, y), 4);
    std::vector<float> X;
    for (double v : sample_rows()) {
        X.push_back(static_cast<float>(v));
    }
    const std::size_t n = X.size() / 4;
    std::vector<float> out(3 * n, -1.0f);
    eg::eval_into(out, logits, p, x = eg::rows<4>(X));
    for (std::size_t s = 0; s < n; ++s) {
        const auto z = eg::evaluate(logits, p, x = std::span<const float>(X).subspan(4 * s, 4));
        for (std::size_t k = 0; k < 3; ++k) {
            CHECK(out[3 * s + k] == Approx(z(k)).epsilon(1e-5).margin(1e-6));
        }
    }
    // Per-sample losses, with labels, in a chosen order.
    const auto ys = sample_labels(n);
    const std::vector<std::size_t> order = {3, 1, 4, 1, 5};
    std::vector<double> ls(order.size());
    eg::eval_into(ls, ce, p, x = eg::rows<4>(X, order), y = eg::select(ys, order));
    for (std::size_t s = 0; s < order.size(); ++s) {
        const auto r = order[s];
        CHECK(ls[s] == Approx(eg::evaluate(ce, p, x = std::span<const float>(X).subspan(4 * r, 4), y = float(ys[r])))
                           .epsilon(1e-6));
    }
    std::vector<float> wrong(3 * n + 1, -1.0f);
    CHECK_THROWS_WITH(eg::eval_into(wrong, logits, p, x = eg::rows<4>(X)),
                      Catch::Contains("the output has 112 elements, the data 37 samples of 3"));
    CHECK(wrong[0] == -1.0f);
}

TEST_CASE("check_grad with shaped variables and with a parameter store") {
    const auto p = eg::parameters(loss, eg::inputs(x, y), 21);
    const std::array<double, 4> x0{0.3, -0.8, 1.1, 0.05};
    CHECK(eg::check_grad(ce, p, x = x0, y = 2.0));
    constexpr auto ln = eg::nn::layer_norm<"ln", 4>;
    constexpr auto W = eg::var<"W", eg::shape<2, 4>>;
    const std::array<double, 8> w{0.3, -0.2, 0.1, 0.5, -0.7, 0.4, 0.9, -0.1};
    const auto f = eg::logsumexp(eg::matvec(W, ln(x))) + eg::sum(eg::nn::bce_with_logits(eg::matvec(W, x), 0.25));
    auto q = eg::parameters(f, eg::inputs(x, W), 0);
    q[ln.weight] = {1.2, 0.7, -0.4, 1.0};
    const auto r = eg::check_grad(f, q, x = x0, W = w);
    CHECK(r);
    CHECK(r.max_abs_error < 1e-8);
    // Without a store, every variable, float values checked in double.
    const std::array<float, 8> wf{0.3f, -0.2f, 0.1f, 0.5f, -0.7f, 0.4f, 0.9f, -0.1f};
    CHECK(eg::check_grad(eg::sum(eg::tanh(eg::matvec(W, x))), W = wf, x = std::array{1.0f, 2.0f, -1.0f, 0.5f}));
}

TEST_CASE("batch_norm: training mode over the rows of a batch, coupled samples, PyTorch's init") {
    constexpr auto X = eg::var<"X", eg::shape<5, 4>>;
    constexpr auto labels = eg::var<"labels", eg::shape<5>>;
    constexpr auto bn = eg::nn::batch_norm<"bn", 6>;
    constexpr auto f1 = eg::nn::linear<"f1", 4, 6>;
    constexpr auto f2 = eg::nn::linear<"f2", 6, 3>;
    constexpr auto h = bn(f1(X));
    constexpr auto batch_loss = eg::mean(eg::nn::cross_entropy(f2(eg::tanh(h)), labels));
    static_assert(std::is_same_v<std::remove_cv_t<decltype(bn.weight)>, eg::var_t<"bn.weight", eg::shape<6>>>);
    static_assert(std::is_same_v<eg::shape_of_t<decltype(h)>, eg::shape<5, 6>>);
    static_assert(std::is_same_v<eg::shape_of_t<decltype(eg::nn::cross_entropy(f2(h), labels))>, eg::shape<5>>);
    auto p = eg::parameters(batch_loss, eg::inputs(X, labels), 3);
    CHECK(p[bn.weight] == eg::tensor<double, eg::shape<6>>{1, 1, 1, 1, 1, 1});
    CHECK(p[bn.bias] == eg::tensor<double, eg::shape<6>>{0, 0, 0, 0, 0, 0});
    std::array<double, 20> xs{};
    for (std::size_t i = 0; i < xs.size(); ++i) {
        xs[i] = std::sin(1.3 * static_cast<double>(i)) + 0.05 * static_cast<double>(i % 3);
    }
    const std::array<double, 5> ys{0, 2, 1, 1, 0};
    p[bn.weight] = {1.5, 0.5, -1, 2, 0.8, 1.1};
    p[bn.bias] = {0.1, 0.2, 0.3, -0.4, 0, 0.05};

    // Every column of the normalised batch has mean bias_j and standard deviation |weight_j|
    // (biased, with eps 1e-5 in the denominator).
    // (A store binds only to an expression with exactly its parameters: here, each one by name.)
    const auto out = h(f1.weight = p[f1.weight], f1.bias = p[f1.bias], bn.weight = p[bn.weight], bn.bias = p[bn.bias], X = xs);
    const auto pre = f1(X)(f1.weight = p[f1.weight], f1.bias = p[f1.bias], X = xs);
    for (std::size_t j = 0; j < 6; ++j) {
        double mu = 0, var = 0, omu = 0;
        for (std::size_t i = 0; i < 5; ++i) {
            mu += pre(i, j) / 5;
            omu += out(i, j) / 5;
        }
        for (std::size_t i = 0; i < 5; ++i) {
            var += (pre(i, j) - mu) * (pre(i, j) - mu) / 5;
        }
        CHECK(omu == Approx(p[bn.bias](j)).margin(1e-14));
        for (std::size_t i = 0; i < 5; ++i) {
            CHECK(out(i, j) == Approx((pre(i, j) - mu) / std::sqrt(var + 1e-5) * p[bn.weight](j) + p[bn.bias](j)).epsilon(1e-13));
        }
    }
    // The samples are coupled: moving one row changes every row's output.
    auto xs2 = xs;
    xs2[0] += 0.5;
    const auto out2 = h(f1.weight = p[f1.weight], f1.bias = p[f1.bias], bn.weight = p[bn.weight], bn.bias = p[bn.bias], X = xs2);
    for (std::size_t i = 1; i < 5; ++i) {
        CHECK(out2(i, 0) != out(i, 0));
    }
    // Gradients of every parameter and of the batch against central differences, and forward mode
    // (the same map: the Jacobian is symmetric) against reverse mode.
    CHECK(eg::check_grad(batch_loss, p, X = xs, labels = ys));
    const auto vg = eg::value_and_grad(batch_loss, eg::wrt(X), p, X = xs, labels = ys);
    std::array<double, 20> dir{};
    double want = 0;
    for (std::size_t i = 0; i < dir.size(); ++i) {
        dir[i] = std::cos(0.9 * static_cast<double>(i));
        want += dir[i] * vg.grad[X].data()[i];
    }
    const auto vt = eg::jvp(batch_loss, eg::tangent(X = dir), p, X = xs, labels = ys);
    CHECK(vt.value == vg.value);
    CHECK(vt.tangent == Approx(want).epsilon(1e-12));
}

TEST_CASE("cross_entropy of a batch: labels that are not classes throw, before any result") {
    constexpr auto Z = eg::var<"Z", eg::shape<3, 4>>;
    constexpr auto labels = eg::var<"labels", eg::shape<3>>;
    constexpr auto f = eg::mean(eg::nn::cross_entropy(Z, labels));
    const std::array<double, 12> z{1, 2, 3, 4, -1, 0, 1, 2, 1000, -1000, 0, 3};
    const auto ok = eg::value_and_grad(f, eg::wrt(Z), Z = z, labels = std::array<double, 3>{3, 0, 0});
    // softmax - onehot, averaged over the 3 samples; finite at logits of +-1000.
    CHECK(std::isfinite(ok.value));
    CHECK(ok.grad[Z](2, 0) == Approx(0.0).margin(1e-15));  // softmax 1, onehot 1
    CHECK(ok.grad[Z](1, 0) == Approx((std::exp(-1.0) / (std::exp(-1.0) + 1 + std::exp(1.0) + std::exp(2.0)) - 1) / 3).epsilon(1e-13));
    CHECK_THROWS_AS(eg::value_and_grad(f, eg::wrt(Z), Z = z, labels = std::array<double, 3>{0, 4, 1}), std::invalid_argument);
    CHECK_THROWS_AS(f(Z = z, labels = std::array<double, 3>{0, 1.5, 1}), std::invalid_argument);
    CHECK_THROWS_AS(f(Z = z, labels = std::array<double, 3>{-1, 1, 1}), std::invalid_argument);
}

TEST_CASE("check_grad over data: every parameter element against the whole data loss") {
    const auto p = eg::parameters(loss, eg::inputs(x, y), 17);
    const auto X = sample_rows();
    const auto ys = sample_labels(X.size() / 4);
    const auto r = eg::check_grad(loss, p, x = eg::rows<4>(X), y = ys);
    CHECK(r);
    CHECK(r.max_abs_error < 1e-8);
    CHECK(r.max_abs_error > 0);  // finite differences are not exact: the comparison did run
    // With no tolerance at all the same check fails: it compares something.
    CHECK_FALSE(eg::check_grad(loss, p, x = eg::rows<4>(X), y = ys, eg::grad_check_options{.eps = 1e-6, .atol = 0, .rtol = 0}));
    // Without a store: the parameters bound by name, the data passed through.
    const auto r2 = eg::check_grad(loss, fc1.weight = p[fc1.weight], fc1.bias = p[fc1.bias], fc2.weight = p[fc2.weight],
                                   fc2.bias = p[fc2.bias], x = eg::rows<4>(X), y = ys);
    CHECK(r2);
    CHECK(r2.max_abs_error == r.max_abs_error);
}

TEST_CASE("value_and_grad_into with tensors: each sample's loss and input gradient, as per-sample calls") {
    const auto p = eg::parameters(loss, eg::inputs(x, y), 29);
    const auto X = sample_rows();
    const auto ys = sample_labels(X.size() / 4);
    const std::size_t n = ys.size();
    const auto w1 = fc1.weight = p[fc1.weight];
    const auto b1 = fc1.bias = p[fc1.bias];
    const auto w2 = fc2.weight = p[fc2.weight];
    const auto b2 = fc2.bias = p[fc2.bias];
    std::vector<double> out(n, -1.0), gx(4 * n, -1.0);
    eg::value_and_grad_into(out, std::tie(gx), ce, eg::wrt(x), w1, b1, w2, b2, x = eg::rows<4>(X), y = ys);
    for (std::size_t s = 0; s < n; ++s) {
        const std::array<double, 4> xs{X[4 * s], X[4 * s + 1], X[4 * s + 2], X[4 * s + 3]};
        const auto vg = eg::value_and_grad(ce, eg::wrt(x), w1, b1, w2, b2, x = xs, y = static_cast<double>(ys[s]));
        CHECK(out[s] == Approx(vg.value).epsilon(1e-14));
        for (std::size_t j = 0; j < 4; ++j) {
            CHECK(gx[4 * s + j] == Approx(vg.grad[x](j)).epsilon(1e-13).margin(1e-15));
        }
    }
    // Rows in a chosen order: sample s is row order[s], its gradient goes to that row.
    std::vector<std::size_t> order(n);
    for (std::size_t s = 0; s < n; ++s) {
        order[s] = (s * 7) % n;
    }
    std::vector<double> out2(n), gx2(4 * n, 0.0);
    eg::value_and_grad_into(out2, std::tie(gx2), ce, eg::wrt(x), w1, b1, w2, b2, x = eg::rows<4>(X, order),
                            y = eg::select(ys, order));
    for (std::size_t s = 0; s < n; ++s) {
        CHECK(out2[s] == Approx(out[order[s]]).epsilon(1e-14));
        CHECK(gx2[4 * order[s]] == Approx(gx[4 * order[s]]).epsilon(1e-13).margin(1e-15));
    }
    // A gradient output of the wrong size: an error naming it, and nothing written.
    std::vector<double> small(4 * n - 1, -1.0);
    std::fill(out.begin(), out.end(), -1.0);
    CHECK_THROWS_WITH(eg::value_and_grad_into(out, std::tie(small), ce, eg::wrt(x), w1, b1, w2, b2, x = eg::rows<4>(X), y = ys),
                      Catch::Contains("the gradient output of 'x' has 147 elements"));
    CHECK(out == std::vector<double>(n, -1.0));
    CHECK(small == std::vector<double>(4 * n - 1, -1.0));
}

TEST_CASE("eg::par with tensors over data: the same bits for any number of threads, and the per-sample sum") {
    for (const std::size_t n : {std::size_t{1}, std::size_t{37}, std::size_t{1437}, std::size_t{5003}}) {
        INFO("n = " << n);
        std::vector<double> X(4 * n);
        for (std::size_t i = 0; i < X.size(); ++i) {
            X[i] = std::sin(0.37 * static_cast<double>(i)) + 0.1 * static_cast<double>(i % 5);
        }
        const auto ys = sample_labels(n);
        const auto p = eg::parameters(loss, eg::inputs(x, y), 41);
        const auto one = eg::value_and_grad(loss, p, x = eg::rows<4>(X), y = ys);
        for (const unsigned t : {1u, 2u, 3u, 8u}) {
            const auto many = eg::value_and_grad(eg::par(t), loss, p, x = eg::rows<4>(X), y = ys);
            CHECK(many.value == one.value);
            CHECK(many.grad[fc1.weight] == one.grad[fc1.weight]);
            CHECK(many.grad[fc1.bias] == one.grad[fc1.bias]);
            CHECK(many.grad[fc2.weight] == one.grad[fc2.weight]);
            CHECK(many.grad[fc2.bias] == one.grad[fc2.bias]);
            const auto frozen = eg::value_and_grad(eg::par(t), loss, eg::wrt(fc2.bias), p, x = eg::rows<4>(X), y = ys);
            CHECK(frozen.grad[fc2.bias] == one.grad[fc2.bias]);
        }
        // The mean of the per-sample calls.
        double v = 0;
        eg::tensor<double, eg::shape<3>> gb{};
        for (std::size_t s = 0; s < n; ++s) {
            const std::array<double, 4> xs{X[4 * s], X[4 * s + 1], X[4 * s + 2], X[4 * s + 3]};
            const auto vg = eg::value_and_grad(ce, eg::wrt(fc2.bias), fc1.weight = p[fc1.weight], fc1.bias = p[fc1.bias],
                                               fc2.weight = p[fc2.weight], fc2.bias = p[fc2.bias], x = xs,
                                               y = static_cast<double>(ys[s]));
            v += vg.value;
            gb += vg.grad[fc2.bias];
        }
        CHECK(one.value == Approx(v / static_cast<double>(n)).epsilon(1e-13));
        for (std::size_t j = 0; j < 3; ++j) {
            CHECK(one.grad[fc2.bias](j) == Approx(gb(j) / static_cast<double>(n)).epsilon(1e-12).margin(1e-15));
        }
    }
}
