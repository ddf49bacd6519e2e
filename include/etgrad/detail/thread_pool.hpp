// etgrad/detail/thread_pool.hpp — the worker threads behind `eg::par`: started by the first parallel
// data call, kept across calls (starting threads per call cost more than small problems take), grown
// when a call asks for more, joined at exit. A call's blocks are fixed before the threads run and
// combined in block order afterwards, so which thread runs which block never changes a result.
#pragma once

#include <atomic>
#include <condition_variable>
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
                workers_.emplace_back([this, id = static_cast<unsigned>(workers_.size() + 1), seen = generation_] {
                    work(id, seen);
                });
            }
            job_ = [](void* c, unsigned t) { (*static_cast<F*>(c))(t); };
            ctx_ = &task;
            tasks_ = n;
            pending_ = n - 1;
            ++generation_;
        }
        wake_.notify_all();
        task(0);
        {
            std::unique_lock lk(m_);
            done_.wait(lk, [this] { return pending_ == 0; });
        }
        busy_.store(false, std::memory_order_release);
        return true;
    }

  private:
    void work(unsigned id, std::uint64_t seen) {
        std::unique_lock lk(m_);
        for (;;) {
            wake_.wait(lk, [&] { return stop_ || generation_ != seen; });
            if (stop_) {
                return;
            }
            seen = generation_;
            if (id >= tasks_) {
                continue;  // this call needs fewer threads
            }
            void (*job)(void*, unsigned) = job_;
            void* ctx = ctx_;
            lk.unlock();
            job(ctx, id);
            lk.lock();
            if (--pending_ == 0) {
                done_.notify_one();
            }
        }
    }

    std::atomic<bool> busy_{false};  // one call at a time (also a nested one gets false)
    std::mutex m_;    // guards everything below
    std::condition_variable wake_, done_;
    std::vector<std::thread> workers_;
    void (*job_)(void*, unsigned) = nullptr;
    void* ctx_ = nullptr;
    unsigned tasks_ = 0, pending_ = 0;
    std::uint64_t generation_ = 0;
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
}  // namespace etgrad::detail
