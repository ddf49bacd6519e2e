// loop_reference_reader.hpp -- the reader of test/reference/torch_loop_reference.txt and the
// comparison helpers shared by loop_reference_test.cpp and loop_tensor_reference_test.cpp (each
// includes it inside its anonymous namespace, after `namespace eg = etgrad;`).
#pragma once

#ifdef ETGRAD_TORCH_LOOP_REFERENCE_FILE
constexpr const char* reference_file = ETGRAD_TORCH_LOOP_REFERENCE_FILE;
#else
constexpr const char* reference_file = nullptr;  // fails below: the build must define the macro
#endif

/// The records of the file: the first word of each line -> the lines' other words.
using records = std::multimap<std::string, std::vector<std::string>>;

records read_reference() {
    INFO("ETGRAD_TORCH_LOOP_REFERENCE_FILE must name test/reference/torch_loop_reference.txt");
    REQUIRE(reference_file != nullptr);
    std::ifstream f(reference_file);
    INFO("reference file " << reference_file);
    REQUIRE(f.good());
    records r;
    std::string line;
    bool complete = false;
    while (std::getline(f, line)) {
        if (line.rfind("# records ", 0) == 0) {
            complete = true;
        }
        if (line.empty() || line[0] == '#') {
            continue;
        }
        std::istringstream ls(line);
        std::string tag, word;
        ls >> tag;
        std::vector<std::string> words;
        while (ls >> word) {
            words.push_back(word);
        }
        r.emplace(tag, words);
    }
    REQUIRE(complete);  // the last line is written last: a truncated file lacks it
    return r;
}
const records& reference() {
    static const records r = read_reference();
    return r;
}
double num(const std::string& s) {
    char* end = nullptr;
    const double v = std::strtod(s.c_str(), &end);
    REQUIRE(end == s.c_str() + s.size());
    return v;
}
/// The numbers of the one record `tag` whose first word is `first` (every record when first is "").
std::vector<double> record(const std::string& tag, const std::string& first = "") {
    const auto [lo, hi] = reference().equal_range(tag);
    std::vector<double> out;
    int found = 0;
    for (auto it = lo; it != hi; ++it) {
        if (first.empty() || (!it->second.empty() && it->second[0] == first)) {
            ++found;
            out.clear();
            for (std::size_t i = first.empty() ? 0 : 1; i < it->second.size(); ++i) {
                out.push_back(num(it->second[i]));
            }
        }
    }
    INFO("record " << tag << " " << first);
    REQUIRE(found == 1);
    return out;
}

bool close(double got, double want, double rel) { return std::abs(got - want) <= rel * std::abs(want); }
#define CHECK_CLOSE(what, got, want, rel)                                                               \
    do {                                                                                                \
        const double got_ = (got), want_ = (want);                                                      \
        INFO(what << ": etgrad " << eg_fmt(got_) << ", torch " << eg_fmt(want_) << " (rel " << (rel) << ")"); \
        CHECK(close(got_, want_, (rel)));                                                               \
    } while (0)
std::string eg_fmt(double v) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    return buf;
}
bool same_bits(double a, double b) { return std::bit_cast<std::uint64_t>(a) == std::bit_cast<std::uint64_t>(b); }
