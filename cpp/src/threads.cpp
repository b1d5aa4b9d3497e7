#include "nanomlp/threads.h"

#include <chrono>
#include <stdexcept>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace nanomlp {

namespace {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

// Waiting spins, then yields: the machine may be shared, and a thread waiting for one that lost
// its core must give that core back.
class Backoff {
 public:
  void pause() {
    if (++spins_ < 4096)
      cpu_relax();
    else
      std::this_thread::yield();
  }

 private:
  int spins_ = 0;
};

// How long an idle worker spins for the next task before it sleeps: longer than the gap between
// two training steps, far shorter than anything a person notices.
constexpr auto kIdleSpin = std::chrono::microseconds(500);

}  // namespace

ThreadPool::ThreadPool(int threads) : threads_(threads) {
  if (threads < 1) throw std::invalid_argument("threads must be >= 1");
  workers_.reserve(static_cast<size_t>(threads - 1));
  for (int tid = 1; tid < threads; ++tid) workers_.emplace_back(&ThreadPool::work, this, tid);
}

ThreadPool::~ThreadPool() {
  stop_.store(true);
  generation_.fetch_add(1);
  {
    std::lock_guard<std::mutex> lock(mutex_);
  }
  wake_.notify_all();
  for (std::thread& t : workers_) t.join();
}

void ThreadPool::dispatch(void (*fn)(void*, int), void* task) {
  fn_ = fn;
  task_ = task;
  pending_.store(threads_ - 1, std::memory_order_relaxed);
  // seq_cst on both sides: either a worker about to sleep sees the new generation, or we see it
  // counted among the sleepers and wake it.
  generation_.fetch_add(1);
  if (sleepers_.load() > 0) {
    { std::lock_guard<std::mutex> lock(mutex_); }
    wake_.notify_all();
  }
  fn(task, 0);
  Backoff backoff;
  while (pending_.load(std::memory_order_acquire) != 0) backoff.pause();
}

void ThreadPool::work(int tid) {
  uint64_t seen = 0;
  for (;;) {
    uint64_t g = generation_.load(std::memory_order_acquire);
    if (g == seen) {
      const auto until = std::chrono::steady_clock::now() + kIdleSpin;
      for (int n = 1; g == seen; ++n) {
        cpu_relax();
        g = generation_.load(std::memory_order_acquire);
        if (n % 256 == 0 && std::chrono::steady_clock::now() > until) break;
      }
    }
    if (g == seen) {
      std::unique_lock<std::mutex> lock(mutex_);
      sleepers_.fetch_add(1);
      wake_.wait(lock, [&] { return (g = generation_.load()) != seen; });
      sleepers_.fetch_sub(1);
    }
    seen = g;
    if (stop_.load()) return;
    fn_(task_, tid);
    pending_.fetch_sub(1, std::memory_order_release);
  }
}

void ThreadPool::barrier() {
  if (threads_ == 1) return;
  const uint64_t g = barrier_generation_.load(std::memory_order_acquire);
  if (arrived_.fetch_add(1, std::memory_order_acq_rel) == threads_ - 1) {
    arrived_.store(0, std::memory_order_relaxed);
    barrier_generation_.fetch_add(1, std::memory_order_release);
    return;
  }
  Backoff backoff;
  while (barrier_generation_.load(std::memory_order_acquire) == g) backoff.pause();
}

}  // namespace nanomlp
