// torch_reference_test.cpp -- etgrad against PyTorch reference values.
//
// Reads test/reference/torch_reference.txt (its path comes from the compile
// definition ETGRAD_TORCH_REFERENCE_FILE, a string literal), produced by
// test/reference/gen_torch_reference.py with PyTorch in float64. For every line
// it rebuilds the expression registered under the line's case id (kCases below,
// the same expressions as CASES in the generator) and compares with PyTorch:
//   - the value, f(bindings...) and value_and_grad's value;
//   - the gradient, value_and_grad(f, wrt(x, y, z), ...);
//   - for smooth cases ("H" lines): the full Hessian, hessian(f, wrt(x, y, z), ...),
//     and the symbolic derivatives d(f, x), d(f, y), d(f, z) (against PyTorch and
//     against etgrad's own reverse mode).
// Variables that a case does not use must get an exact zero in the gradient and
// Hessian. Finite numbers agree to a relative 1e-12 (absolute 1e-12 near zero);
// inf, -inf and nan must match in kind. "noH" lines are PyTorch's conventions
// at non-smooth points (relu'(0), abs'(0), max/min at a tie, where at the
// boundary, sqrt'(0), log of a negative, pow at base 0, ...).
//
// The test fails on an id it does not know, on a registered id missing from the
// file, and on a number of cases or lines different from kExpectedCases /
// kExpectedLines. To add a case: add it to the generator, regenerate the file,
// add the same expression here and update the two counts.

#include <catch2/catch.hpp>

#include <etgrad/etgrad.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#ifndef ETGRAD_TORCH_REFERENCE_FILE
#error "define ETGRAD_TORCH_REFERENCE_FILE as a string literal naming test/reference/torch_reference.txt"
#endif

namespace {

namespace eg = etgrad;

constexpr auto x = eg::var<"x">;
constexpr auto y = eg::var<"y">;
constexpr auto z = eg::var<"z">;

constexpr std::size_t kExpectedCases = 85;
constexpr std::size_t kExpectedLines = 232;

constexpr double kRelTol = 1e-12;
constexpr double kAbsTol = 1e-12;

constexpr std::array<const char*, 3> kNames{"x", "y", "z"};

// ---------------------------------------------------------------------------
// The data file

struct Row {
    std::string id;
    int line = 0;
    int nvars = 0;
    bool has_hessian = false;
    std::array<double, 3> at{};    // unused variables are bound to 0
    double value = 0.0;
    std::array<double, 3> grad{};  // entries >= nvars are 0
    std::array<double, 9> hess{};  // row-major 3x3; entries outside nvars x nvars are 0
};

struct ReferenceFile {
    std::vector<Row> rows;
    std::vector<std::string> errors;  // malformed lines
    long header_cases = -1;           // from "# cases: N  lines: M"
    long header_lines = -1;
};

bool parse_double(const std::string& token, double& out) {
    if (token.empty()) return false;
    errno = 0;
    char* end = nullptr;
    out = std::strtod(token.c_str(), &end);
    // ERANGE on underflow to a subnormal is fine; strtod still returns the nearest value.
    return end == token.c_str() + token.size();
}

ReferenceFile read_reference(const char* path) {
    ReferenceFile file;
    std::ifstream in(path);
    if (!in) {
        file.errors.push_back(std::string("cannot open ") + path);
        return file;
    }
    std::string text;
    int lineno = 0;
    while (std::getline(in, text)) {
        ++lineno;
        const std::string where = std::string(path) + ":" + std::to_string(lineno) + ": ";
        if (text.empty()) continue;
        if (text[0] == '#') {
            long c = 0, l = 0;
            if (std::sscanf(text.c_str(), "# cases: %ld lines: %ld", &c, &l) == 2) {
                file.header_cases = c;
                file.header_lines = l;
            }
            continue;
        }
        std::istringstream ss(text);
        std::vector<std::string> tok;
        for (std::string t; ss >> t;) tok.push_back(t);
        if (tok.empty()) continue;

        Row r;
        r.id = tok[0];
        r.line = lineno;
        if (tok.size() < 3 || (tok[1] != "1" && tok[1] != "2" && tok[1] != "3") ||
            (tok[2] != "H" && tok[2] != "noH")) {
            file.errors.push_back(where + "bad '<id> <nvars> <H|noH>' prefix: " + text);
            continue;
        }
        r.nvars = tok[1][0] - '0';
        r.has_hessian = tok[2] == "H";
        const auto n = static_cast<std::size_t>(r.nvars);
        const std::size_t expected_tokens = 3 + n + 1 + n + (r.has_hessian ? n * n : 0);
        if (tok.size() != expected_tokens) {
            file.errors.push_back(where + "expected " + std::to_string(expected_tokens) +
                                  " fields, got " + std::to_string(tok.size()) + ": " + text);
            continue;
        }
        bool ok = true;
        std::size_t k = 3;
        for (std::size_t i = 0; i < n; ++i, ++k) {
            const std::string prefix = std::string(kNames[i]) + "=";
            if (tok[k].rfind(prefix, 0) != 0 || !parse_double(tok[k].substr(prefix.size()), r.at[i])) {
                file.errors.push_back(where + "expected " + prefix + "<number>, got " + tok[k]);
                ok = false;
            }
        }
        auto number = [&](double& out) {
            if (!parse_double(tok[k], out)) {
                file.errors.push_back(where + "not a number: " + tok[k]);
                ok = false;
            }
            ++k;
        };
        number(r.value);
        for (std::size_t i = 0; i < n; ++i) number(r.grad[i]);
        if (r.has_hessian)
            for (std::size_t i = 0; i < n; ++i)
                for (std::size_t j = 0; j < n; ++j) number(r.hess[3 * i + j]);
        if (ok) file.rows.push_back(r);
    }
    return file;
}

const ReferenceFile& reference() {
    static const ReferenceFile file = read_reference(ETGRAD_TORCH_REFERENCE_FILE);
    return file;
}

// ---------------------------------------------------------------------------
// Comparison

bool close(double expected, double actual) {
    if (std::isnan(expected)) return std::isnan(actual);
    if (std::isinf(expected)) return actual == expected;
    if (!std::isfinite(actual)) return false;
    const double diff = std::abs(actual - expected);
    return diff <= kAbsTol || diff <= kRelTol * std::max(std::abs(expected), std::abs(actual));
}

std::string fmt(double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    return buf;
}

std::string where(const Row& r) {
    return "case '" + r.id + "' (line " + std::to_string(r.line) + ", x=" + fmt(r.at[0]) +
           " y=" + fmt(r.at[1]) + " z=" + fmt(r.at[2]) + ")";
}

// Counts comparisons so that a passing run reports them (Catch2 does not count
// the silent successes of FAIL_CHECK-based checks).
std::size_t g_comparisons = 0;

void expect_close(const Row& r, const std::string& what, double expected, double actual,
                  const char* against = "torch") {
    ++g_comparisons;
    if (!close(expected, actual))
        FAIL_CHECK(where(r) << ": " << what << ": etgrad " << fmt(actual) << ", " << against << " "
                            << fmt(expected));
}

void expect_zero(const Row& r, const std::string& what, double actual) {
    ++g_comparisons;
    if (actual != 0.0)
        FAIL_CHECK(where(r) << ": " << what << " (variable not in the case) must be an exact 0, got "
                            << fmt(actual));
}

// ---------------------------------------------------------------------------
// Running one line

enum class Kind { smooth, nonsmooth };

template <Kind K, class F>
void run_case(const F& f, const Row& r) {
    const double vx = r.at[0];
    const double vy = r.at[1];
    const double vz = r.at[2];
    const auto n = static_cast<std::size_t>(r.nvars);

    const double v = f(x = vx, y = vy, z = vz);
    expect_close(r, "value f(bindings)", r.value, v);

    auto [val, g] = eg::value_and_grad(f, eg::wrt(x, y, z), x = vx, y = vy, z = vz);
    expect_close(r, "value of value_and_grad", r.value, static_cast<double>(val));
    const std::array<double, 3> grad{static_cast<double>(g[x]), static_cast<double>(g[y]),
                                     static_cast<double>(g[z])};
    for (std::size_t i = 0; i < 3; ++i) {
        const std::string what = std::string("d/d") + kNames[i];
        if (i < n)
            expect_close(r, what, r.grad[i], grad[i]);
        else
            expect_zero(r, what, grad[i]);
    }

    if constexpr (K == Kind::smooth) {
        const auto H = eg::hessian(f, eg::wrt(x, y, z), x = vx, y = vy, z = vz);
        const std::array<double, 9> hess{
            static_cast<double>(H(x, x)), static_cast<double>(H(x, y)), static_cast<double>(H(x, z)),
            static_cast<double>(H(y, x)), static_cast<double>(H(y, y)), static_cast<double>(H(y, z)),
            static_cast<double>(H(z, x)), static_cast<double>(H(z, y)), static_cast<double>(H(z, z))};
        for (std::size_t i = 0; i < 3; ++i)
            for (std::size_t j = 0; j < 3; ++j) {
                const std::string what = std::string("d2/d") + kNames[i] + "d" + kNames[j];
                if (i < n && j < n)
                    expect_close(r, what, r.hess[3 * i + j], hess[3 * i + j]);
                else
                    expect_zero(r, what, hess[3 * i + j]);
            }

        // Symbolic derivatives: another expression, evaluated with the same bindings.
        const std::array<double, 3> sym{static_cast<double>(eg::d(f, x)(x = vx, y = vy, z = vz)),
                                        static_cast<double>(eg::d(f, y)(x = vx, y = vy, z = vz)),
                                        static_cast<double>(eg::d(f, z)(x = vx, y = vy, z = vz))};
        for (std::size_t i = 0; i < 3; ++i) {
            const std::string what = std::string("symbolic d(f, ") + kNames[i] + ")";
            if (i < n) {
                expect_close(r, what, r.grad[i], sym[i]);
                expect_close(r, what, grad[i], sym[i], "etgrad reverse mode");
            } else {
                expect_zero(r, what, sym[i]);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The cases: the same expressions, under the same ids, as CASES in
// test/reference/gen_torch_reference.py.

struct Entry {
    const char* id;
    Kind kind;
    void (*run)(const Row&);
};

// ETG_CASE_FN(id, kind, { statements; return expression; })
#define ETG_CASE_FN(ID, KIND, ...) \
    Entry { ID, Kind::KIND, [](const Row& r) { run_case<Kind::KIND>([] __VA_ARGS__(), r); } }
// ETG_CASE(id, kind, expression)
#define ETG_CASE(ID, KIND, ...) ETG_CASE_FN(ID, KIND, { return __VA_ARGS__; })

// Binary cross-entropy of a probability expression p against a fixed label t.
template <class P>
constexpr auto bce(P p, double t) {
    return -(t * eg::log(p) + (1 - t) * eg::log(1 - p));
}

const std::vector<Entry>& cases() {
    static const std::vector<Entry> table{
        // --- arithmetic
        ETG_CASE("add", smooth, x + y),
        ETG_CASE("sub", smooth, x - y),
        ETG_CASE("mul", smooth, x * y),
        ETG_CASE("div", smooth, x / y),
        ETG_CASE("neg", smooth, -x * y + (-y)),
        ETG_CASE("runtime_const", smooth, 2.5 * x - (1 - y) * y / 4.0 + x * 0.5),
        ETG_CASE("ct_const", smooth, eg::c<2> * x * x + eg::c<1, 2> * y),

        // --- elementary functions, one variable
        ETG_CASE("exp", smooth, eg::exp(x)),
        ETG_CASE("log", smooth, eg::log(x)),
        ETG_CASE("log1p", smooth, eg::log1p(x)),
        ETG_CASE("expm1", smooth, eg::expm1(x)),
        ETG_CASE("sqrt", smooth, eg::sqrt(x)),
        ETG_CASE("cbrt", smooth, eg::cbrt(x)),
        ETG_CASE("pow_int3", smooth, eg::pow(x, eg::c<3>)),
        ETG_CASE("square", smooth, eg::square(x)),
        ETG_CASE("sin", smooth, eg::sin(x)),
        ETG_CASE("cos", smooth, eg::cos(x)),
        ETG_CASE("tan", smooth, eg::tan(x)),
        ETG_CASE("asin", smooth, eg::asin(x)),
        ETG_CASE("acos", smooth, eg::acos(x)),
        ETG_CASE("atan", smooth, eg::atan(x)),
        ETG_CASE("sinh", smooth, eg::sinh(x)),
        ETG_CASE("cosh", smooth, eg::cosh(x)),
        ETG_CASE("tanh", smooth, eg::tanh(x)),
        ETG_CASE("sigmoid", smooth, eg::sigmoid(x)),
        ETG_CASE("softplus", smooth, eg::softplus(x)),
        ETG_CASE("softplus_tails", smooth, eg::softplus(x)),
        ETG_CASE("sigmoid_tails", smooth, eg::sigmoid(x)),
        ETG_CASE("relu", smooth, eg::relu(x)),
        ETG_CASE("abs", smooth, eg::abs(x)),
        ETG_CASE("erf", smooth, eg::erf(x)),

        // --- elementary functions, two variables
        ETG_CASE("atan2", smooth, eg::atan2(x, y)),
        ETG_CASE("pow_xy", smooth, eg::pow(x, y)),
        ETG_CASE("max", smooth, eg::max(x, y)),
        ETG_CASE("min", smooth, eg::min(x, y)),
        ETG_CASE("where_gt", smooth, eg::where(x > y, eg::sin(x) * y, x + y * y)),
        ETG_CASE("where_lt", smooth, eg::where(x < y, x * x * y, eg::exp(y - x))),

        // --- compositions
        ETG_CASE("sin_xx_exp_y_over_x", smooth, eg::sin(x * x) + eg::exp(y) / x),
        ETG_CASE("log_sigmoid_xy", smooth, eg::log(eg::sigmoid(x * y))),
        ETG_CASE("rosenbrock", smooth, eg::square(1 - x) + 100 * eg::square(y - x * x)),
        ETG_CASE("rosenbrock_pow", smooth,
                 eg::pow(1 - x, eg::c<2>) + 100.0 * eg::pow(y - eg::pow(x, eg::c<2>), eg::c<2>)),
        // Logistic-regression neuron: w = x, b = y, data pair (xd, t) fixed in the case.
        ETG_CASE("bce_t1", smooth, bce(eg::sigmoid(x * 1.5 + y), 1.0)),
        ETG_CASE("bce_t0", smooth, bce(eg::sigmoid(x * -0.7 + y), 0.0)),
        ETG_CASE("bce_2feat", smooth, bce(eg::sigmoid(x * 0.8 + y * -1.7 + z), 0.3)),
        ETG_CASE("xyz", smooth, x * y * z),
        ETG_CASE("xyz_chain", smooth, eg::sin(x * y * z) * (x + y + z) + eg::exp(x * y) * z),
        ETG_CASE_FN("shared_u", smooth, {
            const auto u = x * y;
            return u * u * u + eg::sin(u);
        }),
        ETG_CASE_FN("shared_uv", smooth, {
            const auto u = eg::sin(x) * y;
            const auto v = eg::exp(u);
            return v * v + u * v + eg::log(v + z);
        }),
        ETG_CASE("tanh_layer", smooth, eg::tanh(x * y + z) * 2.5 - z * z),
        ETG_CASE("gauss", smooth, eg::exp(-(x * x + y * y) * 0.5)),
        ETG_CASE("norm3", smooth, eg::sqrt(x * x + y * y + z * z)),
        ETG_CASE("normal_cdf", smooth, 0.5 * (1 + eg::erf(x / std::sqrt(2.0))) * y),
        ETG_CASE("softplus_diff", smooth, eg::softplus(x - y) * z),
        ETG_CASE("expm1_div", smooth, eg::expm1(x * y) / y),
        ETG_CASE("log1p_cosh", smooth, eg::log1p(x * x) * eg::cosh(y)),
        ETG_CASE("where_expr", smooth, eg::where(x * y > z, eg::sin(x * y), eg::cos(z) * x)),
        ETG_CASE("max_min_expr", smooth, eg::max(x * y, z) + eg::min(x, y * z)),
        ETG_CASE("abs_relu_expr", smooth, eg::abs(x - y) * z + eg::relu(x * y - z)),
        ETG_CASE("square_sin", smooth, eg::square(eg::sin(x) + y)),
        ETG_CASE("pow3_expr", smooth, eg::pow(x * y + 1, eg::c<3>) / z),
        ETG_CASE("pow_expr", smooth, eg::pow(x * x + 1, eg::sin(y)) * z),
        ETG_CASE("atan2_expr", smooth, eg::atan2(x * y, z * z + 0.5)),
        ETG_CASE("trig_mix", smooth, eg::tan(x) * eg::cos(y) + eg::asin(x / 2) * eg::acos(y / 3)),
        ETG_CASE("hyper_mix", smooth, eg::sinh(x) * eg::cosh(y) - eg::tanh(x * y)),
        ETG_CASE("atan_sigmoid_sqrt", smooth, eg::atan(x) * eg::sigmoid(y) + eg::sqrt(1 + x * x)),
        ETG_CASE("cbrt_expr", smooth, eg::cbrt(x * y + z)),
        ETG_CASE("logsumexp2", smooth, eg::log(eg::exp(x) + eg::exp(y))),

        // --- non-smooth points: PyTorch's conventions (value and gradient only)
        ETG_CASE("relu_at0", nonsmooth, eg::relu(x)),
        ETG_CASE("relu_tie", nonsmooth, eg::relu(x - y)),
        ETG_CASE("abs_at0", nonsmooth, eg::abs(x)),
        ETG_CASE("abs_tie", nonsmooth, eg::abs(x - y)),
        ETG_CASE("max_tie", nonsmooth, eg::max(x, y)),
        ETG_CASE("min_tie", nonsmooth, eg::min(x, y)),
        ETG_CASE("max_tie_expr", nonsmooth, eg::max(x * x, y)),
        ETG_CASE("where_gt_tie", nonsmooth, eg::where(x > y, x * y, x - y)),
        ETG_CASE("where_ge_tie", nonsmooth, eg::where(x >= y, x * y, x - y)),
        ETG_CASE("sqrt_at0", nonsmooth, eg::sqrt(x)),
        ETG_CASE("sqrt_neg", nonsmooth, eg::sqrt(x)),
        ETG_CASE("log_at0", nonsmooth, eg::log(x)),
        ETG_CASE("log_neg", nonsmooth, eg::log(x)),
        ETG_CASE("div_by0", nonsmooth, x / y),
        ETG_CASE("pow_base0", nonsmooth, eg::pow(x, y)),
        ETG_CASE("asin_edge", nonsmooth, eg::asin(x)),
        ETG_CASE("acos_edge", nonsmooth, eg::acos(x)),
        ETG_CASE("atan2_origin", nonsmooth, eg::atan2(x, y)),
    };
    return table;
}

#undef ETG_CASE
#undef ETG_CASE_FN

const Entry* find_case(const std::string& id) {
    for (const Entry& e : cases())
        if (id == e.id) return &e;
    return nullptr;
}

}  // namespace

TEST_CASE("torch reference: the data file is complete and every case is known", "[torch][reference]") {
    const ReferenceFile& file = reference();
    for (const std::string& e : file.errors) FAIL_CHECK(e);

    std::set<std::string> registered;
    for (const Entry& e : cases()) {
        INFO("registered id " << e.id);
        CHECK(registered.insert(e.id).second);  // ids are unique
    }
    CHECK(registered.size() == kExpectedCases);

    std::set<std::string> seen;
    for (const Row& r : file.rows) {
        seen.insert(r.id);
        const Entry* e = find_case(r.id);
        if (e == nullptr) {
            FAIL_CHECK("line " << r.line << ": unknown case id '" << r.id
                               << "' (add it to the table in torch_reference_test.cpp)");
            continue;
        }
        if ((e->kind == Kind::smooth) != r.has_hessian)
            FAIL_CHECK("line " << r.line << ": case '" << r.id << "' is registered as "
                               << (e->kind == Kind::smooth ? "smooth (H)" : "non-smooth (noH)")
                               << " but the file says " << (r.has_hessian ? "H" : "noH"));
    }
    for (const std::string& id : registered)
        if (seen.count(id) == 0) FAIL_CHECK("case '" << id << "' has no line in the data file");

    CHECK(seen.size() == kExpectedCases);
    CHECK(file.rows.size() == kExpectedLines);
    CHECK(file.header_cases == static_cast<long>(seen.size()));
    CHECK(file.header_lines == static_cast<long>(file.rows.size()));
}

TEST_CASE("torch reference: values, gradients, Hessians and symbolic derivatives match PyTorch",
          "[torch][reference]") {
    const ReferenceFile& file = reference();
    REQUIRE(file.rows.size() >= kExpectedLines);
    g_comparisons = 0;
    std::size_t run = 0;
    for (const Row& r : file.rows) {
        const Entry* e = find_case(r.id);
        if (e == nullptr) {
            FAIL_CHECK("line " << r.line << ": unknown case id '" << r.id << "'");
            continue;
        }
        e->run(r);
        ++run;
    }
    CHECK(run == kExpectedLines);
    // Lower bound: value x2 and 3 gradient entries per line.
    CHECK(g_comparisons >= 5 * kExpectedLines);
}
