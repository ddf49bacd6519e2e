// digits_mpi.cpp -- the digit classifier of examples/digits.cpp, trained data-parallel with MPI:
// every rank holds a shard of the training samples and computes their gradient with etgrad, the
// gradients are combined with one MPI_Allreduce per step, and every rank takes the same optimizer
// step. The trained parameters are bit-identical for any number of ranks (1, 2, 4, ... and the run
// without mpirun), because of how the gradients are combined:
//
//     etgrad_digits_mpi [path/to/digits.csv.gz] [--quick] [--generated N] [--steps S] [--chunks C]
//                       [--out FILE] [--split-seed N] [--naive-allreduce]
//     mpirun -np 4 etgrad_digits_mpi --out params.txt
//
// Data and model are those of examples/digits.cpp: sklearn's 8x8 digits (pixels / 16), a fixed
// 80/20 split from a splitmix64 permutation (seed 2026, or --split-seed N; digits.cpp uses the
// committed split of the real digits instead), 64 -> 32 -> 10 with tanh and a softmax
// cross-entropy, the initial parameters from seed 1. Training is full-batch gradient descent,
// eg::optim::sgd with lr 0.5, 400 steps (--steps S); --quick trains 100 steps on 500 generated
// samples (the generator of digits.cpp), --generated N on N generated samples (for timing).
//
// Why not MPI_Allreduce(MPI_SUM) of each rank's gradient: floating-point addition is not
// associative. The sum of the ranks' partial gradients is grouped differently for 1, 2 or 4 ranks
// (each rank's partial sum covers other samples), and MPI's reduction algorithm (tree, ring,
// recursive doubling, chosen by message size and rank count) picks its own grouping and order:
// the totals, and after a few hundred steps the parameters, differ in their last bits.
// --naive-allreduce trains that way, to show it: one etgrad call over each rank's whole shard, the
// ranks' float gradients added by MPI_Allreduce (as data-parallel training is often written); its
// parameter files differ between rank counts.
//
// What this example does instead (the determinism rule):
//   1. Fixed chunks. The N training samples are cut into C chunks (C = 16, --chunks), chunk c
//      holding samples [c*N/C, (c+1)*N/C): the boundaries depend on the sample index only, never
//      on the number of ranks. Chunk c belongs to rank c*R/C of R ranks (contiguous runs of chunks,
//      as even as C and R allow; a rank may own none when R > C): that rank holds those samples.
//   2. One etgrad call per chunk. The owner computes the chunk's loss and gradient with one
//      eg::value_and_grad over the chunk's rows, of the *sum* of the per-sample losses (so that
//      chunk gradients add up to the whole set's; the division by N comes once, at the end). The
//      call sees the same rows in the same order whichever rank makes it, so it returns the same
//      bits (the same binary on every rank: see the README on SIMD widths).
//   3. Slots. Each rank writes chunk c's loss and gradient into slot c of a buffer of C x (1 + P)
//      numbers (P = number of parameters) that is zero in the slots it does not own;
//      MPI_Allreduce(MPI_SUM) of that buffer adds, in each element, one non-zero value and zeros.
//      x + 0 = x exactly (and -0 + +0 = +0, which the ordered sum below makes harmless), in
//      whatever order MPI adds: every rank receives every chunk's gradient exactly. The slots hold
//      the parameters' number type, float here: the call's results are floats, held exactly, at
//      half the bytes of doubles.
//   4. An ordered sum. Every rank adds the C slots in chunk order 0, 1, ..., C-1, starting from
//      +0, in double, divides by N and rounds to float: the same mean gradient on every rank for
//      any rank count, so the same optimizer step, so the same parameters.
// The run without mpirun (Open MPI's singleton MPI_Init, one rank) goes through the same code.
// It is not bit-identical to examples/digits.cpp, whose one etgrad call over all 1437 samples
// accumulates every weight's gradient in float lanes across all samples (one horizontal add at the
// end), where this program rounds each chunk's lanes and adds the chunks in double; only C = 1
// would make the same call, and it is not claimed (nor tested).
//
// At the end, every rank compares its parameters with rank 0's (bit for bit, MPI_Bcast), rank 0
// prints the test accuracy and writes the parameters (eg::parameter_store::save, hexadecimal
// floats: byte-identical files for identical parameters) to --out FILE. The exit status is non-zero
// unless every rank agrees and the test accuracy reaches 95 % (90 % for --quick and --generated).
// Without the data file (no python3-sklearn) it says so and exits with status 0.

// Open MPI's deprecated C++ bindings are not used.
#define OMPI_SKIP_MPICXX 1
#include <mpi.h>

#include <etgrad/etgrad.hpp>
#include <etgrad/nn.hpp>

#include "../digits_data.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <limits>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace eg = etgrad;

// The model of examples/digits.cpp; the loss summed over the samples (see 2. above).
constexpr auto x = eg::var<"x", eg::shape<64>>;
constexpr auto y = eg::var<"y">;
constexpr auto fc1 = eg::nn::linear<"fc1", 64, 32>;
constexpr auto fc2 = eg::nn::linear<"fc2", 32, 10>;
constexpr auto logits = fc2(eg::tanh(fc1(x)));
constexpr auto loss_sum = eg::sum(eg::nn::cross_entropy(logits, y));

namespace {

using store_t = decltype(eg::parameters<float>(loss_sum, eg::inputs(x, y), 1));
// The gradient record of one call (the same variables as the store, in the same order).
using grad_t = decltype(eg::value_and_grad(loss_sum, std::declval<const store_t&>(),
                                           x = eg::rows<64>(std::span<const float>()),
                                           y = std::span<const int>())
                            .grad);
constexpr std::size_t n_params = store_t::numel();
// The parameters' number type, and MPI's name for it.
using real = store_t::value_type;
const MPI_Datatype mpi_real = std::is_same_v<real, float> ? MPI_FLOAT : MPI_DOUBLE;

using digits::dataset;

double accuracy(const store_t& params, const dataset& d) {
    if (d.size() == 0) {
        return 0.0;
    }
    std::vector<float> z(10 * d.size());
    eg::eval_into(z, logits, params, x = eg::rows<64>(std::span<const float>(d.X)));
    std::size_t right = 0;
    for (std::size_t s = 0; s < d.size(); ++s) {
        const auto row = z.begin() + static_cast<std::ptrdiff_t>(10 * s);
        right += static_cast<int>(std::max_element(row, row + 10) - row) == d.labels[s];
    }
    return static_cast<double>(right) / static_cast<double>(d.size());
}

// An entry of a store or gradient record: an eg::tensor, or one number for a scalar variable.
template <class X>
auto* elements(X& e) {
    if constexpr (std::is_arithmetic_v<std::remove_const_t<X>>) {
        return &e;
    } else {
        return e.data();
    }
}
template <class X>
constexpr std::size_t count_of(const X&) {
    if constexpr (std::is_arithmetic_v<X>) {
        return 1;
    } else {
        return X::size();
    }
}

// The parameters as one vector, in the store's order.
std::vector<real> flatten(const store_t& params) {
    std::vector<real> out;
    out.reserve(n_params);
    params.for_each([&](auto, const auto& e) {
        const auto* p = elements(e);
        out.insert(out.end(), p, p + count_of(e));
    });
    return out;
}

// A call's summed loss, then its gradient (P values in the store's order), into s[0 .. P].
template <class R, class D>
void write_slot(const R& r, D* s) {
    s[0] = static_cast<D>(r.value);
    std::size_t k = 1;
    r.grad.for_each([&](auto, const auto& ge) {
        const auto* p = elements(ge);
        for (std::size_t i = 0; i < count_of(ge); ++i) {
            s[k++] = static_cast<D>(p[i]);
        }
    });
}

// Chunk c holds the training samples [chunk_begin(c), chunk_begin(c + 1)) and belongs to rank
// c * ranks / chunks: neither the boundaries nor the chunks' gradients depend on the rank count.
std::size_t chunk_begin(std::size_t c, std::size_t n, std::size_t chunks) { return c * n / chunks; }
int owner(std::size_t c, int ranks, std::size_t chunks) {
    return static_cast<int>(c * static_cast<std::size_t>(ranks) / chunks);
}

struct options {
    std::string path = "/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz";
    std::string out;
    bool quick = false;
    std::size_t generated = 0;  // > 0: that many generated samples instead of the file
    int steps = 0;              // 0: the default (400, or 100 for --quick)
    std::size_t chunks = 16;
    std::uint64_t split_seed = 2026;
    bool naive = false;  // --naive-allreduce: the counter-example (not bit-identical across rank counts)
};

bool parse(int argc, char** argv, options& o) {
    for (int i = 1; i < argc; ++i) {
        const bool more = i + 1 < argc;
        if (std::strcmp(argv[i], "--quick") == 0) {
            o.quick = true;
        } else if (std::strcmp(argv[i], "--generated") == 0 && more) {
            o.generated = std::strtoull(argv[++i], nullptr, 10);
        } else if (std::strcmp(argv[i], "--steps") == 0 && more) {
            o.steps = std::atoi(argv[++i]);
        } else if (std::strcmp(argv[i], "--chunks") == 0 && more) {
            o.chunks = std::strtoull(argv[++i], nullptr, 10);
        } else if (std::strcmp(argv[i], "--out") == 0 && more) {
            o.out = argv[++i];
        } else if (std::strcmp(argv[i], "--split-seed") == 0 && more) {
            o.split_seed = std::strtoull(argv[++i], nullptr, 10);
        } else if (std::strcmp(argv[i], "--naive-allreduce") == 0) {
            o.naive = true;
        } else if (argv[i][0] == '-') {
            return false;
        } else {
            o.path = argv[i];
        }
    }
    if (o.quick && o.generated == 0) {
        o.generated = 500;
    }
    if (o.steps == 0) {
        o.steps = o.quick ? 100 : 400;
    }
    return o.chunks > 0 && o.steps > 0;
}

int run(const options& o, int rank, int ranks) {
    dataset all;
    if (o.generated > 0) {
        all = digits::generated(o.generated);
    } else if (!digits::read_digits(o.path, all)) {
        if (rank == 0) {
            std::printf("digits_mpi: cannot read %s (install python3-sklearn, or pass the file's path)\n",
                        o.path.c_str());
        }
        return 0;
    }
    // The splitmix64 split (digits_data.hpp). Every rank makes it (it is cheap and deterministic), then
    // keeps only the training rows of its own chunks; rank 0 also keeps the test rows.
    const std::size_t n = all.size() * 4 / 5;
    const std::size_t C = o.chunks;
    const std::vector<std::size_t> order = digits::split_order(all.size(), o.split_seed);
    const auto rows = [&](std::size_t first, std::size_t last) {
        return digits::select(all, std::span<const std::size_t>(order).subspan(first, last - first));
    };
    std::vector<std::size_t> mine;  // the chunks this rank owns, in order (contiguous)
    for (std::size_t c = 0; c < C; ++c) {
        if (owner(c, ranks, C) == rank) {
            mine.push_back(c);
        }
    }
    const std::size_t shard_begin = mine.empty() ? 0 : chunk_begin(mine.front(), n, C);
    const std::size_t shard_end = mine.empty() ? 0 : chunk_begin(mine.back() + 1, n, C);
    const dataset shard = rows(shard_begin, shard_end);
    const dataset test = rank == 0 ? rows(n, all.size()) : dataset{};
    all = dataset{};
    if (rank == 0) {
        std::printf("digits_mpi: %zu training samples in %zu chunks over %d rank%s, %zu test samples\n", n, C, ranks,
                    ranks == 1 ? "" : "s", test.size());
    }

    auto params = eg::parameters<float>(loss_sum, eg::inputs(x, y), /*seed*/ 1);
    eg::optim::sgd gd(params, {.lr = 0.5});
    // Slot c: chunk c's summed loss, then its gradient (P values in the store's order).
    constexpr std::size_t slot = 1 + n_params;
    std::vector<real> buffer(C * slot);
    if (buffer.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
        throw std::runtime_error("digits_mpi: too many chunks for one MPI_Allreduce");
    }
    std::vector<double> total(slot);
    std::vector<real> partial(o.naive ? slot : 0);
    grad_t g{};
    double t_grad = 0, t_reduce = 0;
    MPI_Barrier(MPI_COMM_WORLD);
    const double t0 = MPI_Wtime();
    for (int step = 1; step <= o.steps; ++step) {
        const double ta = MPI_Wtime();
        double tb = ta;
        std::fill(total.begin(), total.end(), 0.0);
        if (!o.naive) {
            std::fill(buffer.begin(), buffer.end(), real(0));
            for (std::size_t c : mine) {
                const std::size_t b = chunk_begin(c, n, C) - shard_begin, e = chunk_begin(c + 1, n, C) - shard_begin;
                if (b != e) {  // (an empty chunk, when n < C: its gradient is zero, as its slot is)
                    const auto X = std::span<const float>(shard.X).subspan(64 * b, 64 * (e - b));
                    const auto labels = std::span<const int>(shard.labels).subspan(b, e - b);
                    write_slot(eg::value_and_grad(loss_sum, params, x = eg::rows<64>(X), y = labels),
                               buffer.data() + c * slot);
                }
            }
            tb = MPI_Wtime();
            // Each element: one chunk's value plus zeros, exact in any order of addition.
            MPI_Allreduce(MPI_IN_PLACE, buffer.data(), static_cast<int>(buffer.size()), mpi_real, MPI_SUM,
                          MPI_COMM_WORLD);
            // The chunks in order 0..C-1, from +0: the same sum on every rank, for any rank count.
            for (std::size_t c = 0; c < C; ++c) {
                const real* s = buffer.data() + c * slot;
                for (std::size_t k = 0; k < slot; ++k) {
                    total[k] += static_cast<double>(s[k]);
                }
            }
        } else {
            // The counter-example, as data-parallel training is often written: one call over this
            // rank's whole shard, the ranks' float gradients added by MPI. Both the call's internal
            // grouping and MPI's change with the number of ranks.
            std::fill(partial.begin(), partial.end(), real(0));
            if (!shard.labels.empty()) {
                write_slot(eg::value_and_grad(loss_sum, params, x = eg::rows<64>(std::span<const float>(shard.X)),
                                              y = std::span<const int>(shard.labels)),
                           partial.data());
            }
            tb = MPI_Wtime();
            MPI_Allreduce(MPI_IN_PLACE, partial.data(), static_cast<int>(slot), mpi_real, MPI_SUM, MPI_COMM_WORLD);
            std::copy(partial.begin(), partial.end(), total.begin());
        }
        const double tc = MPI_Wtime();
        // The mean gradient, rounded to the parameters' float once.
        std::size_t k = 1;
        std::as_const(g).for_each([&](auto v, const auto&) {
            auto& ge = g[v];
            auto* p = elements(ge);
            for (std::size_t i = 0; i < count_of(ge); ++i) {
                p[i] = static_cast<real>(total[k++] / static_cast<double>(n));
            }
        });
        gd.step(g);
        t_grad += tb - ta;
        t_reduce += tc - tb;
        if (rank == 0 && step % std::max(1, o.steps / 5) == 0) {
            std::printf("  step %4d  loss %.4f\n", step, total[0] / static_cast<double>(n));
        }
    }
    const double t_train = MPI_Wtime() - t0;

    // Every rank's parameters against rank 0's, bit for bit.
    std::vector<real> flat = flatten(params), root = flat;
    MPI_Bcast(root.data(), static_cast<int>(root.size()), mpi_real, 0, MPI_COMM_WORLD);
    int same = std::memcmp(flat.data(), root.data(), flat.size() * sizeof(real)) == 0 ? 1 : 0;
    MPI_Allreduce(MPI_IN_PLACE, &same, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    double times[3] = {t_train, t_grad, t_reduce};
    MPI_Allreduce(MPI_IN_PLACE, times, 3, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);

    int ok = 0;
    if (rank == 0) {
        const double acc = accuracy(params, test);
        const double want = o.generated > 0 ? 0.9 : 0.95;
        std::printf("training: %d steps in %.3f s, %.3f ms per step (slowest rank: gradients %.3f ms, "
                    "allreduce and waiting %.3f ms per step)\n",
                    o.steps, times[0], 1e3 * times[0] / o.steps, 1e3 * times[1] / o.steps, 1e3 * times[2] / o.steps);
        std::printf("every rank holds rank 0's parameters, bit for bit: %s\n", same ? "yes" : "NO");
        std::printf("full-batch GD, lr 0.5: test accuracy %.1f %% (required: %.0f %%)\n", 100 * acc, 100 * want);
        if (!o.out.empty()) {
            params.save(o.out);
            std::printf("parameters written to %s\n", o.out.c_str());
        }
        ok = same && acc >= want ? 1 : 0;
    }
    MPI_Bcast(&ok, 1, MPI_INT, 0, MPI_COMM_WORLD);
    return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    MPI_Init(&argc, &argv);
    int rank = 0, ranks = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);
    options o;
    if (!parse(argc, argv, o)) {
        if (rank == 0) {
            std::fprintf(stderr, "usage: etgrad_digits_mpi [digits.csv.gz] [--quick] [--generated N] [--steps S] "
                                 "[--chunks C] [--out FILE] [--split-seed N] [--naive-allreduce]\n");
        }
        MPI_Finalize();
        return 2;
    }
    int status = 1;
    try {
        status = run(o, rank, ranks);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "digits_mpi (rank %d): %s\n", rank, e.what());
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    MPI_Finalize();
    return status;
}
