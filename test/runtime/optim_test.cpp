// optim_test.cpp -- etgrad's optimizers (include/etgrad/nn/optim.hpp) against torch.optim.
//
// Reads test/reference/torch_optim_reference.txt (ETGRAD_TORCH_OPTIM_REFERENCE_FILE, a string
// literal), produced by test/reference/gen_torch_optim_reference.py with PyTorch 1.13 in float64:
// per configuration (SGD, Adam, AdamW and their options), 20 steps of torch.optim on the
// parameters fc.weight (3x4) and fc.bias (3) of the loss sum_k sum(tanh(W x_k + b) * c_k), each
// step's parameters before, torch's gradient and the parameters after. Checked here:
//  - fed torch's gradients, etgrad's optimizer follows torch's trajectory to a relative 1e-12;
//  - with etgrad's own gradients (eg::value_and_grad over the store), to 1e-10;
//  - a gradient record without fc.bias (configurations *_freeze, where torch's bias.grad is None
//    in some steps) leaves the bias and its state untouched;
//  - invalid options throw std::invalid_argument; float stores follow the trajectory to 1e-4.
// A missing or truncated reference file fails the test.

#include <catch2/catch.hpp>

#include <etgrad/etgrad.hpp>
#include <etgrad/nn/optim.hpp>
#include <etgrad/nn/parameters.hpp>

#include <array>
#include <cmath>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#ifndef ETGRAD_TORCH_OPTIM_REFERENCE_FILE
#error "define ETGRAD_TORCH_OPTIM_REFERENCE_FILE as a string literal naming test/reference/torch_optim_reference.txt"
#endif

namespace {
namespace eg = etgrad;

constexpr auto W = eg::var<"fc.weight", eg::shape<3, 4>>;
constexpr auto b = eg::var<"fc.bias", eg::shape<3>>;
constexpr auto x = eg::var<"x", eg::shape<4>>;
constexpr auto c = eg::var<"c", eg::shape<3>>;
constexpr auto loss = eg::sum(eg::tanh(eg::matvec(W, x) + b) * c);
using WV = std::remove_cvref_t<decltype(W)>;
using BV = std::remove_cvref_t<decltype(b)>;

constexpr std::size_t samples = 5;
constexpr std::size_t steps = 20;

struct step_record {
    std::map<std::string, std::vector<double>> before, grad, after;
    double loss = 0;
    bool bias_frozen = false;
};
struct config {
    std::string name, kind;
    std::map<std::string, double> opt;
    std::vector<step_record> steps;
    double option(const std::string& key) const {
        const auto it = opt.find(key);
        if (it == opt.end()) {
            FAIL("configuration " << name << ": no option " << key);
        }
        return it->second;
    }
};
struct reference {
    std::vector<double> x, c;
    std::vector<config> configs;
};

std::vector<double> numbers(std::istringstream& ls, std::size_t count) {
    std::vector<double> v(count);
    for (auto& e : v) {
        std::string t;
        ls >> t;
        char* end = nullptr;
        e = std::strtod(t.c_str(), &end);
        REQUIRE((!t.empty() && *end == '\0'));
    }
    return v;
}

reference read_reference() {
    std::ifstream f(ETGRAD_TORCH_OPTIM_REFERENCE_FILE);
    INFO("reference file " << ETGRAD_TORCH_OPTIM_REFERENCE_FILE);
    REQUIRE(f.good());
    reference r;
    std::string line, last;
    while (std::getline(f, line)) {
        if (!line.empty()) {
            last = line;
        }
        if (line.empty() || line[0] == '#') {
            continue;
        }
        std::istringstream ls(line);
        std::string tag, name;
        ls >> tag;
        if (tag == "data") {
            std::size_t count = 0;
            ls >> name >> count;
            (name == "x" ? r.x : r.c) = numbers(ls, count);
        } else if (tag == "config") {
            r.configs.emplace_back();
            ls >> r.configs.back().name >> r.configs.back().kind;
            std::string kv;
            while (ls >> kv) {
                const auto eq = kv.find('=');
                REQUIRE(eq != std::string::npos);
                r.configs.back().opt[kv.substr(0, eq)] = std::strtod(kv.c_str() + eq + 1, nullptr);
            }
        } else if (tag == "step") {
            REQUIRE(!r.configs.empty());
            r.configs.back().steps.emplace_back();
        } else if (tag == "before" || tag == "grad" || tag == "after") {
            REQUIRE((!r.configs.empty() && !r.configs.back().steps.empty()));
            auto& s = r.configs.back().steps.back();
            std::string count;
            ls >> name >> count;
            if (tag == "grad" && count == "none") {
                REQUIRE(name == "fc.bias");
                s.bias_frozen = true;
                continue;
            }
            auto& m = tag == "before" ? s.before : tag == "grad" ? s.grad : s.after;
            m[name] = numbers(ls, std::stoul(count));
        } else if (tag == "loss") {
            std::string t;
            ls >> t;
            r.configs.back().steps.back().loss = std::strtod(t.c_str(), nullptr);
        } else if (tag != "end") {
            FAIL("unknown record " << tag);
        }
    }
    REQUIRE(last.rfind("# configs ", 0) == 0);
    std::istringstream ls(last.substr(10));
    std::size_t declared = 0, declared_steps = 0;
    std::string word;
    ls >> declared >> word >> declared_steps;
    REQUIRE(declared == r.configs.size());
    REQUIRE(declared_steps == steps);
    REQUIRE(r.x.size() == samples * 4);
    REQUIRE(r.c.size() == samples * 3);
    for (const auto& cf : r.configs) {
        INFO("configuration " << cf.name);
        REQUIRE(cf.steps.size() == steps);
        for (const auto& s : cf.steps) {
            REQUIRE(s.before.at("fc.weight").size() == 12);
            REQUIRE(s.before.at("fc.bias").size() == 3);
            REQUIRE(s.after.at("fc.weight").size() == 12);
            REQUIRE(s.after.at("fc.bias").size() == 3);
            REQUIRE(s.grad.at("fc.weight").size() == 12);
            REQUIRE(s.grad.count("fc.bias") == (s.bias_frozen ? 0u : 1u));
        }
    }
    return r;
}

const reference& ref() {
    static const reference r = read_reference();
    return r;
}

const std::vector<std::string> expected_configs = {
    "sgd_plain",     "sgd_momentum",  "sgd_dampening_wd", "sgd_nesterov",        "adam_default", "adam_wd_betas",
    "adamw_default", "adamw_eps",     "sgd_momentum_freeze", "adam_freeze",      "adamw_freeze"};

/// Relative to max(|want|, 1).
template <class A>
void check_close(const A& got, const std::vector<double>& want, double tol, const std::string& what) {
    REQUIRE(got.size() == want.size());
    for (std::size_t i = 0; i < want.size(); ++i) {
        const double g = static_cast<double>(got[i]);
        INFO(what << " element " << i << ": etgrad " << g << ", torch " << want[i]);
        CHECK(std::abs(g - want[i]) <= tol * std::max(std::abs(want[i]), 1.0));
    }
}

template <class Store>
void load(Store& p, const step_record& s) {
    using T = typename Store::value_type;
    for (std::size_t i = 0; i < 12; ++i) {
        p[W][i] = static_cast<T>(s.before.at("fc.weight")[i]);
    }
    for (std::size_t i = 0; i < 3; ++i) {
        p[b][i] = static_cast<T>(s.before.at("fc.bias")[i]);
    }
}

template <class T>
auto make_store() {
    return eg::parameters<T>(loss, eg::inputs(x, c), 0);
}

/// Calls f(optimizer) with the configuration's optimizer over p.
template <class Store, class F>
void with_optimizer(const config& cf, Store& p, F&& f) {
    if (cf.kind == "sgd") {
        eg::optim::sgd opt(p, {.lr = cf.option("lr"),
                               .momentum = cf.option("momentum"),
                               .dampening = cf.option("dampening"),
                               .weight_decay = cf.option("weight_decay"),
                               .nesterov = cf.option("nesterov") != 0});
        f(opt);
    } else if (cf.kind == "adam") {
        eg::optim::adam opt(p, {.lr = cf.option("lr"),
                                .betas = {cf.option("beta1"), cf.option("beta2")},
                                .eps = cf.option("eps"),
                                .weight_decay = cf.option("weight_decay")});
        f(opt);
    } else if (cf.kind == "adamw") {
        eg::optim::adamw opt(p, {.lr = cf.option("lr"),
                                 .betas = {cf.option("beta1"), cf.option("beta2")},
                                 .eps = cf.option("eps"),
                                 .weight_decay = cf.option("weight_decay")});
        f(opt);
    } else {
        FAIL("configuration " << cf.name << ": unknown optimizer " << cf.kind);
    }
}

/// etgrad's gradient of the loss summed over the samples, {loss, gradient record}, with respect to
/// the variables of `w` (eg::wrt(W, b), or eg::wrt(W) for a frozen bias).
template <class Store, class Wrt>
auto etgrad_gradient(const Store& p, Wrt w) {
    using T = typename Store::value_type;
    const auto& r = ref();
    std::array<T, 4> xk{};
    std::array<T, 3> ck{};
    auto sample = [&](std::size_t k) {
        for (std::size_t i = 0; i < 4; ++i) {
            xk[i] = static_cast<T>(r.x[k * 4 + i]);
        }
        for (std::size_t i = 0; i < 3; ++i) {
            ck[i] = static_cast<T>(r.c[k * 3 + i]);
        }
        return eg::value_and_grad(loss, w, p, x = xk, c = ck);
    };
    auto [total, g] = sample(0);
    double sum = static_cast<double>(total);
    for (std::size_t k = 1; k < samples; ++k) {
        const auto vg = sample(k);
        sum += static_cast<double>(vg.value);
        g += vg.grad;
    }
    return std::pair{sum, g};
}

}  // namespace

TEST_CASE("optim: the reference file holds every configuration", "[optim]") {
    const auto& r = ref();
    REQUIRE(r.configs.size() == expected_configs.size());
    for (std::size_t i = 0; i < expected_configs.size(); ++i) {
        CHECK(r.configs[i].name == expected_configs[i]);
    }
}

TEST_CASE("optim: fed torch's gradients, etgrad follows torch's trajectory (1e-12)", "[optim]") {
    for (const auto& cf : ref().configs) {
        INFO("configuration " << cf.name);
        auto p = make_store<double>();
        load(p, cf.steps[0]);
        with_optimizer(cf, p, [&](auto& opt) {
            for (std::size_t k = 0; k < steps; ++k) {
                INFO("step " << k);
                const auto& s = cf.steps[k];
                check_close(p[W], s.before.at("fc.weight"), 1e-12, "fc.weight before");
                check_close(p[b], s.before.at("fc.bias"), 1e-12, "fc.bias before");
                eg::tensor_gradient<double, WV, BV> g{};
                for (std::size_t i = 0; i < 12; ++i) {
                    g[W][i] = s.grad.at("fc.weight")[i];
                }
                if (s.bias_frozen) {
                    eg::tensor_gradient<double, WV> gw{};
                    gw[W] = g[W];
                    const auto bias = p[b];
                    opt.step(gw);
                    CHECK(p[b] == bias);
                } else {
                    for (std::size_t i = 0; i < 3; ++i) {
                        g[b][i] = s.grad.at("fc.bias")[i];
                    }
                    opt.step(g);
                }
                check_close(p[W], s.after.at("fc.weight"), 1e-12, "fc.weight after");
                check_close(p[b], s.after.at("fc.bias"), 1e-12, "fc.bias after");
            }
        });
    }
}

TEST_CASE("optim: with etgrad's own gradients, etgrad follows torch's trajectory (1e-10)", "[optim]") {
    for (const auto& cf : ref().configs) {
        INFO("configuration " << cf.name);
        auto p = make_store<double>();
        load(p, cf.steps[0]);
        with_optimizer(cf, p, [&](auto& opt) {
            for (std::size_t k = 0; k < steps; ++k) {
                INFO("step " << k);
                const auto& s = cf.steps[k];
                const auto both = etgrad_gradient(p, eg::wrt(W, b));
                CHECK(std::abs(both.first - s.loss) <= 1e-10 * std::max(std::abs(s.loss), 1.0));
                check_close(both.second[W], s.grad.at("fc.weight"), 1e-10, "fc.weight gradient");
                if (s.bias_frozen) {
                    const auto bias = p[b];
                    opt.step(etgrad_gradient(p, eg::wrt(W)).second);
                    CHECK(p[b] == bias);
                } else {
                    check_close(both.second[b], s.grad.at("fc.bias"), 1e-10, "fc.bias gradient");
                    opt.step(both.second);
                }
                check_close(p[W], s.after.at("fc.weight"), 1e-10, "fc.weight after");
                check_close(p[b], s.after.at("fc.bias"), 1e-10, "fc.bias after");
            }
        });
    }
}

TEST_CASE("optim: a parameter absent from the gradient record keeps its value and state", "[optim]") {
    eg::tensor_gradient<double, WV, BV> g{};
    for (std::size_t i = 0; i < 12; ++i) {
        g[W][i] = 0.25 - 0.125 * static_cast<double>(i % 5);
    }
    g[b] = {0.5, -1.0, 2.0};
    eg::tensor_gradient<double, WV> gw{};
    gw[W] = g[W];

    SECTION("sgd: no momentum buffer until the first step with a gradient") {
        auto p = make_store<double>();
        const auto bias0 = p[b];
        eg::optim::sgd opt(p, {.lr = 0.5, .momentum = 0.9});
        opt.step(gw);
        opt.step(gw);
        CHECK(p[b] == bias0);
        CHECK(opt.has_momentum_buffer(W));
        CHECK_FALSE(opt.has_momentum_buffer(b));
        opt.step(g);  // the bias's first step: buffer = gradient, p -= lr * gradient
        CHECK(opt.has_momentum_buffer(b));
        for (std::size_t i = 0; i < 3; ++i) {
            CHECK(opt.momentum_buffer(b)[i] == g[b][i]);
            CHECK(p[b][i] == std::fma(-0.5, g[b][i], bias0[i]));
        }
    }
    SECTION("adam, adamw: the bias's step count and moments stay at zero") {
        auto p = make_store<double>();
        const auto bias0 = p[b];
        eg::optim::adam opt(p, {.lr = 1e-2});
        eg::optim::adamw opt2(p);
        for (int k = 0; k < 3; ++k) {
            opt.step(gw);
            opt2.step(gw);
        }
        CHECK(p[b] == bias0);
        CHECK(opt.steps(W) == 3);
        CHECK(opt.steps(b) == 0);
        CHECK(opt2.steps(b) == 0);
        CHECK(opt.exp_avg(b) == eg::tensor<double, eg::shape<3>>{});
        CHECK(opt.exp_avg_sq(b) == eg::tensor<double, eg::shape<3>>{});
        opt.step(g);
        CHECK(opt.steps(W) == 4);
        CHECK(opt.steps(b) == 1);
        // Adam's first step moves each element by lr (1 - 1e-8-ish) against the gradient's sign.
        for (std::size_t i = 0; i < 3; ++i) {
            CHECK(std::abs(p[b][i] - bias0[i] + 1e-2 * (g[b][i] > 0 ? 1 : -1)) < 1e-9);
        }
    }
}

TEST_CASE("optim: invalid options throw std::invalid_argument", "[optim]") {
    auto p = make_store<double>();
    using eg::optim::adam;
    using eg::optim::adamw;
    using eg::optim::sgd;
    CHECK_THROWS_AS(sgd(p, {.lr = -1}), std::invalid_argument);
    CHECK_THROWS_AS(sgd(p, {.momentum = -0.1}), std::invalid_argument);
    CHECK_THROWS_AS(sgd(p, {.weight_decay = -0.1}), std::invalid_argument);
    CHECK_THROWS_AS(sgd(p, {.nesterov = true}), std::invalid_argument);
    CHECK_THROWS_AS(sgd(p, {.momentum = 0.9, .dampening = 0.1, .nesterov = true}), std::invalid_argument);
    CHECK_THROWS_WITH(sgd(p, {.lr = -1}), Catch::Contains("lr"));
    CHECK_THROWS_WITH(sgd(p, {.momentum = -1}), Catch::Contains("momentum"));
    CHECK_THROWS_WITH(sgd(p, {.nesterov = true}), Catch::Contains("nesterov"));
    CHECK_NOTHROW(sgd(p, {.momentum = 0.9, .nesterov = true}));
    CHECK_NOTHROW(sgd(p, {.lr = 0, .dampening = 0.5}));

    CHECK_THROWS_AS(adam(p, {.lr = -1e-3}), std::invalid_argument);
    CHECK_THROWS_AS(adam(p, {.eps = -1}), std::invalid_argument);
    CHECK_THROWS_AS(adam(p, {.betas = {1.0, 0.999}}), std::invalid_argument);
    CHECK_THROWS_AS(adam(p, {.betas = {0.9, -0.1}}), std::invalid_argument);
    CHECK_THROWS_AS(adam(p, {.weight_decay = -1}), std::invalid_argument);
    CHECK_THROWS_WITH(adam(p, {.eps = -1}), Catch::Contains("eps"));
    CHECK_THROWS_WITH(adam(p, {.betas = {0.9, 1.0}}), Catch::Contains("betas[1]"));
    CHECK_NOTHROW(adam(p, {.betas = {0.0, 0.0}}));

    CHECK_THROWS_AS(adamw(p, {.lr = -1e-3}), std::invalid_argument);
    CHECK_THROWS_AS(adamw(p, {.eps = -1e-8}), std::invalid_argument);
    CHECK_THROWS_AS(adamw(p, {.betas = {-0.5, 0.999}}), std::invalid_argument);
    CHECK_THROWS_AS(adamw(p, {.betas = {0.9, 1.5}}), std::invalid_argument);
    CHECK_THROWS_AS(adamw(p, {.weight_decay = -1e-2}), std::invalid_argument);
    CHECK_THROWS_WITH(adamw(p, {.betas = {1.0, 0.9}}), Catch::Contains("betas[0]"));
    CHECK_THROWS_WITH(adamw(p, {.weight_decay = -1}), Catch::Contains("weight_decay"));
}

TEST_CASE("optim: options and defaults", "[optim]") {
    auto p = make_store<double>();
    eg::optim::sgd s(p, {.lr = 0.5, .momentum = 0.9});
    CHECK(s.options().lr == 0.5);
    CHECK(s.options().momentum == 0.9);
    CHECK(s.options().dampening == 0);
    eg::optim::adam a(p);
    CHECK(a.options().lr == 1e-3);
    CHECK(a.options().betas == std::array<double, 2>{0.9, 0.999});
    CHECK(a.options().eps == 1e-8);
    CHECK(a.options().weight_decay == 0);
    eg::optim::adamw aw(p);
    CHECK(aw.options().weight_decay == 1e-2);
    static_assert(std::is_same_v<decltype(s)::value_type, double>);
}

TEST_CASE("optim: a scalar parameter", "[optim]") {
    constexpr auto s = eg::var<"s">;
    constexpr auto q = (s - 3.0) * (s - 3.0);
    auto p = eg::parameters(q, eg::inputs(), 0);
    REQUIRE(p[s] == 0.0);
    eg::optim::sgd opt(p, {.lr = 0.125});
    auto [v, g] = eg::value_and_grad(q, p);
    CHECK(v == 9.0);
    opt.step(g);
    CHECK(p[s] == 0.75);  // 0 - 0.125 * 2 * (0 - 3)
    eg::optim::adam opt2(p, {.lr = 0.5});
    opt2.step(eg::value_and_grad(q, p).grad);
    CHECK(std::abs(p[s] - 1.25) < 1e-7);
}

TEST_CASE("optim: float stores follow the float64 trajectory (1e-4)", "[optim]") {
    for (const auto& cf : ref().configs) {
        INFO("configuration " << cf.name);
        auto p = make_store<float>();
        load(p, cf.steps[0]);
        with_optimizer(cf, p, [&](auto& opt) {
            static_assert(std::is_same_v<typename std::remove_cvref_t<decltype(opt)>::value_type, float>);
            for (std::size_t k = 0; k < steps; ++k) {
                INFO("step " << k);
                const auto& s = cf.steps[k];
                if (s.bias_frozen) {
                    opt.step(etgrad_gradient(p, eg::wrt(W)).second);
                } else {
                    opt.step(etgrad_gradient(p, eg::wrt(W, b)).second);
                }
                check_close(p[W], s.after.at("fc.weight"), 1e-4, "fc.weight after");
                check_close(p[b], s.after.at("fc.bias"), 1e-4, "fc.bias after");
            }
        });
    }
}
