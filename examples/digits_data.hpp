// digits_data.hpp -- the data of the digit-classifier examples (examples/digits.cpp,
// examples/batch_norm.cpp, examples/mpi/digits_mpi.cpp): sklearn's 8x8 digits read from Debian's
// python3-sklearn (digits.csv.gz: 1797 rows of 64 pixels 0..16, then the label 0..9; pixels
// divided by 16), a small generated set for tests without the package, and the seeded 80/20 split.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace digits {

/// Rows of 64 pixels in [0, 1] and their labels 0..9.
struct dataset {
    std::vector<float> X;
    std::vector<int> labels;
    std::size_t size() const { return labels.size(); }
};

/// splitmix64: the permutation is the same on every platform.
struct rng {
    std::uint64_t s;
    std::uint64_t next() {
        std::uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }
};

/// Fisher-Yates: for i = n-1 down to 1, swap a[i] with a[next() % (i + 1)].
template <class V>
void shuffle(std::vector<V>& a, rng& r) {
    for (std::size_t i = a.size(); i-- > 1;) {
        std::swap(a[i], a[r.next() % (i + 1)]);
    }
}

/// Reads the gzipped CSV through gzip; false when it cannot.
inline bool read_digits(const std::string& path, dataset& d) {
    std::FILE* f = popen(("gzip -dc '" + path + "' 2>/dev/null").c_str(), "r");
    if (f == nullptr) {
        return false;
    }
    int v = 0;
    std::size_t k = 0;
    while (std::fscanf(f, "%d,", &v) == 1) {
        if (k++ % 65 == 64) {
            d.labels.push_back(v);
        } else {
            d.X.push_back(static_cast<float>(v) / 16.0f);
        }
    }
    pclose(f);
    return !d.labels.empty() && d.X.size() == 64 * d.labels.size();
}

/// A small generated set (the test suite's runs without python3-sklearn): ten classes, each a
/// noisy template.
inline dataset generated(std::size_t n) {
    dataset d;
    d.X.reserve(64 * n);
    d.labels.reserve(n);
    rng r{7};
    for (std::size_t s = 0; s < n; ++s) {
        const int c = static_cast<int>(r.next() % 10);
        for (int j = 0; j < 64; ++j) {
            const bool on = ((j * 7 + c * 13) % 10) < 3 + (c % 3);
            const float noise = static_cast<float>(r.next() % 1000) / 4000.0f;
            d.X.push_back(on ? 0.75f + noise : noise);
        }
        d.labels.push_back(c);
    }
    return d;
}

/// The examples' data: 500 generated samples with --quick, else the file at path; false (after
/// saying why, as program `who`) when the file cannot be read.
inline bool load_examples_data(bool quick, const std::string& path, const char* who, dataset& all) {
    if (quick) {
        all = generated(500);
        return true;
    }
    if (!read_digits(path, all)) {
        std::printf("%s: cannot read %s (install python3-sklearn, or pass the file's path)\n", who, path.c_str());
        return false;
    }
    return true;
}

/// The rows of `order`, in that order (made once, before training).
inline dataset select(const dataset& d, std::span<const std::size_t> order) {
    dataset out;
    for (std::size_t i : order) {
        out.X.insert(out.X.end(), d.X.begin() + static_cast<std::ptrdiff_t>(64 * i),
                     d.X.begin() + static_cast<std::ptrdiff_t>(64 * i + 64));
        out.labels.push_back(d.labels[i]);
    }
    return out;
}

/// The seeded permutation of 0..n-1 whose first n·4/5 entries are the training rows (1437 of
/// 1797) and the rest the test rows.
inline std::vector<std::size_t> split_order(std::size_t n, std::uint64_t seed) {
    std::vector<std::size_t> order(n);
    for (std::size_t i = 0; i < n; ++i) {
        order[i] = i;
    }
    rng r{seed};
    shuffle(order, r);
    return order;
}

/// The split of the real digits (examples/data/digits_split.txt, made by gen_digits_split.py:
/// NumPy's default_rng(0).permutation(1797)): a permutation of 0..n-1 whose first n·4/5 entries
/// are the training rows. Throws std::runtime_error when the file is missing or is not a
/// permutation of 0..n-1.
inline std::vector<std::size_t> read_split(const std::string& path, std::size_t n) {
    std::ifstream f(path);
    if (!f) {
        throw std::runtime_error("digits: cannot read the split file " + path);
    }
    std::vector<std::size_t> order;
    std::vector<bool> seen(n, false);
    std::string line;
    while (std::getline(f, line)) {
        if (line.empty() || line[0] == '#') {
            continue;
        }
        std::istringstream ls(line);
        std::size_t v = 0;
        while (ls >> v) {
            if (v >= n || seen[v]) {
                throw std::runtime_error("digits: " + path + " is not a permutation of 0.." + std::to_string(n - 1));
            }
            seen[v] = true;
            order.push_back(v);
        }
    }
    if (order.size() != n) {
        throw std::runtime_error("digits: " + path + " has " + std::to_string(order.size()) + " rows, not " +
                                 std::to_string(n));
    }
    return order;
}

#ifndef ETGRAD_DIGITS_SPLIT_FILE  // examples/CMakeLists.txt gives the absolute path
#define ETGRAD_DIGITS_SPLIT_FILE "examples/data/digits_split.txt"
#endif

/// The examples' split: the committed one for the real digits (n = 1797), unless a seed is given
/// (--split-seed N: splitmix64 Fisher-Yates), and splitmix64 with seed 2026 for generated sets.
inline std::vector<std::size_t> example_split(std::size_t n, bool seed_given, std::uint64_t seed) {
    if (n == 1797 && !seed_given) {
        return read_split(ETGRAD_DIGITS_SPLIT_FILE, n);
    }
    return split_order(n, seed_given ? seed : 2026);
}

}  // namespace digits
