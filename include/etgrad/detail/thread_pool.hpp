// etgrad/detail/thread_pool.hpp — the worker threads behind `eg::par`: started by the first parallel
// data call, kept across calls (starting threads per call cost more than small problems take), grown
// when a call asks for more, joined at exit. A call's blocks are fixed before the threads run and
// combined in block order afterwards, so which thread runs which block never changes a result.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace etgrad::detail {

class thread_pool {
  public:
    /// The process's pool, created on first use.
    static thread_pool& shared() {
        static thread_pool pool;
        return pool;
    }

    thread_pool() = default;
    thread_pool(const thread_pool&) = delete;
    thread_pool& operator=(const thread_pool&) = delete;
    ~thread_pool() {
        {
            std::lock_guard lk(m_);
            stop_ = true;
        }
        wake_.notify_all();
        for (auto& w : workers_) {
            w.join();
        }
    }

    /// Runs task(t) for t = 0 .. n-1, t = 0 on the calling thread and the others on workers, and
    /// returns when all have finished. Returns false without running anything when another caller
    /// is using the pool (the caller then runs its tasks itself).
    template <class F>
    bool run(unsigned n, F& task) {
        bool idle = false;
        if (!busy_.compare_exchange_strong(idle, true, std::memory_order_acquire)) {
            return false;
        }
        {
            std::lock_guard lk(m_);
            while (workers_.size() + 1 < n) {
                workers_.emplace_back([this, id = static_cast<unsigned>(workers_.size() + 1),
                                       seen = generation_.load(std::memory_order_relaxed)] {
                    work(id, seen);
                });
            }
            job_ = [](void* c, unsigned t) { (*static_cast<F*>(c))(t); };
            ctx_ = &task;
            tasks_ = n;
            pending_.store(n - 1, std::memory_order_relaxed);
            generation_.store(generation_.load(std::memory_order_relaxed) + 1, std::memory_order_release);
        }
        wake_.notify_all();
        task(0);
        // The others' blocks take about as long as this thread's: wait spinning a little first.
        for (int i = 0; i < spin && pending_.load(std::memory_order_acquire) != 0; ++i) {
            relax();
        }
        if (pending_.load(std::memory_order_acquire) != 0) {
            std::unique_lock lk(m_);
            done_.wait(lk, [this] { return pending_.load(std::memory_order_acquire) == 0; });
        }
        busy_.store(false, std::memory_order_release);
        return true;
    }

  private:
    void work(unsigned id, std::uint64_t seen) {
        std::unique_lock lk(m_, std::defer_lock);
        for (;;) {
            // A call that follows soon (a training loop's next step) finds this thread awake:
            // spin a little before sleeping (a sleeping thread takes tens of microseconds to wake).
            for (int i = 0; i < spin && generation_.load(std::memory_order_acquire) == seen; ++i) {
                relax();
            }
            lk.lock();
            wake_.wait(lk, [&] { return stop_ || generation_.load(std::memory_order_acquire) != seen; });
            if (stop_) {
                return;
            }
            seen = generation_.load(std::memory_order_acquire);
            if (id >= tasks_) {
                lk.unlock();
                continue;  // this call needs fewer threads
            }
            void (*job)(void*, unsigned) = job_;
            void* ctx = ctx_;
            lk.unlock();
            job(ctx, id);
            if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
                lk.lock();  // (the caller may be about to sleep on done_)
                lk.unlock();
                done_.notify_one();
            }
        }
    }

    static void relax() {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#else
        std::this_thread::yield();
#endif
    }
    static constexpr int spin = 1 << 14;  // about 0.1 to 0.5 ms of pause instructions

    std::atomic<bool> busy_{false};  // one call at a time (also a nested one gets false)
    std::mutex m_;    // guards everything below
    std::condition_variable wake_, done_;
    std::vector<std::thread> workers_;
    void (*job_)(void*, unsigned) = nullptr;
    void* ctx_ = nullptr;
    unsigned tasks_ = 0;
    std::atomic<unsigned> pending_{0};
    std::atomic<std::uint64_t> generation_{0};
    bool stop_ = false;
};

/// Runs task(t) for t = 0 .. n-1 on the shared pool (on this thread alone, in order, when the pool
/// is busy with another caller).
template <class F>
void parallel_tasks(unsigned n, F&& task) {
    if (n <= 1 || !thread_pool::shared().run(n, task)) {
        for (unsigned t = 0; t < n; ++t) {
            task(t);
        }
    }
}

/// Runs block(b) for b = 0 .. nblocks-1 on up to n threads of the shared pool, each thread taking
/// the next block not yet taken (so that a thread slowed by something else on its core holds up
/// no one). Which thread runs a block never changes a result: each block writes its own outputs
/// or partial sums, combined by the caller in block order.
template <class F>
void parallel_blocks(unsigned n, std::size_t nblocks, F&& block) {
    if (n > nblocks) {
        n = static_cast<unsigned>(nblocks);
    }
    if (n <= 1) {
        for (std::size_t b = 0; b < nblocks; ++b) {
            block(b);
        }
        return;
    }
    std::atomic<std::size_t> next{0};
    parallel_tasks(n, [&](unsigned) {
        for (std::size_t b = next.fetch_add(1, std::memory_order_relaxed); b < nblocks;
             b = next.fetch_add(1, std::memory_order_relaxed)) {
            block(b);
        }
    });
}
}  // namespace etgrad::detail
