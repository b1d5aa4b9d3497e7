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

// Waiting spins, then yields: on a shared machine the thread we wait for may need our core.
class Backoff {
 public:
  void pause() {
    if (++spins_ < 2048)
      cpu_relax();
    else
      std::this_thread::yield();
  }

 private:
  int spins_ = 0;
};

// How long an idle worker spins for the next run before it sleeps: longer than the gap between
// two training steps, far shorter than anything a person notices.
constexpr auto kIdleSpin = std::chrono::microseconds(500);
// Pauses an idle worker spins before it starts yielding.
constexpr int kIdlePauses = 1024;

inline uint32_t tag_of(uint64_t v) { return static_cast<uint32_t>(v >> 32); }
inline int64_t count_of(uint64_t v) { return static_cast<int64_t>(v & 0xFFFFFFFFu); }

}  // namespace

ThreadPool::ThreadPool(int threads, int max_phases, int64_t max_chunks)
    : threads_(threads),
      max_phases_(max_phases),
      max_chunks_(max_chunks),
      claimed_(new std::atomic<uint64_t>[static_cast<size_t>(max_phases * max_chunks)]),
      done_(new std::atomic<uint64_t>[static_cast<size_t>(max_phases)]),
      total_(new std::atomic<int64_t>[static_cast<size_t>(max_phases)]) {
  if (threads < 1)
    throw std::invalid_argument("threads must be >= 1, got " + std::to_string(threads));
  if (max_phases < 1 || max_chunks < 1)
    throw std::invalid_argument("max_phases and max_chunks must be >= 1");
  for (int64_t i = 0; i < max_phases * max_chunks; ++i) claimed_[i].store(0);
  for (int p = 0; p < max_phases; ++p) {
    done_[p].store(0);
    total_[p].store(0);
  }
  workers_.reserve(static_cast<size_t>(threads - 1));
  try {
    for (int tid = 1; tid < threads; ++tid) workers_.emplace_back(&ThreadPool::idle, this, tid);
  } catch (...) {
    // A thread the system would not start (a process limit): the destructor will not run for
    // a half-built pool, and destroying joinable threads would terminate the process.
    stop_workers();
    throw;
  }
}

void ThreadPool::stop_workers() {
  stop_.store(true);
  generation_.fetch_add(1);
  { std::lock_guard<std::mutex> lock(mutex_); }
  wake_.notify_all();
  for (std::thread& t : workers_) t.join();
}

ThreadPool::~ThreadPool() { stop_workers(); }

void ThreadPool::dispatch(int phases, const int64_t* chunks, WorkFn fn, void* work) {
  if (phases > max_phases_) throw std::logic_error("ThreadPool::run: too many phases");
  for (int p = 0; p < phases; ++p)
    if (chunks[p] > max_chunks_) throw std::logic_error("ThreadPool::run: too many chunks");
  const uint32_t tag = ++tag_;
  const uint64_t base = static_cast<uint64_t>(tag) << 32;
  for (int p = 0; p < phases; ++p) {
    // A late thread expects its own run's tag in a free chunk, so it claims none of these.
    for (int64_t c = 0; c < chunks[p]; ++c)
      claimed_[p * max_chunks_ + c].store(base, std::memory_order_relaxed);
    done_[p].store(base, std::memory_order_relaxed);
    total_[p].store(chunks[p], std::memory_order_relaxed);
  }
  phases_.store(phases, std::memory_order_relaxed);
  fn_.store(fn, std::memory_order_relaxed);
  work_.store(work, std::memory_order_relaxed);
  // seq_cst with sleepers_: either a worker about to sleep sees this run, or we see it counted
  // among the sleepers and wake it.
  generation_.store(tag);
  if (sleepers_.load() > 0) {
    { std::lock_guard<std::mutex> lock(mutex_); }
    wake_.notify_all();
  }
  participate(tag, 0);
  // Every chunk is done once the last phase is: a worker still inside this run holds none.
  const int last = phases - 1;
  const uint64_t complete = base | static_cast<uint64_t>(chunks[last]);
  Backoff backoff;
  while (done_[last].load(std::memory_order_acquire) != complete) backoff.pause();
}

bool ThreadPool::claim(uint32_t tag, int p, int64_t c) {
  std::atomic<uint64_t>& flag = claimed_[p * max_chunks_ + c];
  uint64_t free = static_cast<uint64_t>(tag) << 32;
  return flag.load(std::memory_order_relaxed) == free &&
         flag.compare_exchange_strong(free, free | 1, std::memory_order_acq_rel);
}

void ThreadPool::participate(uint32_t tag, int tid) {
  const int phases = phases_.load(std::memory_order_relaxed);
  for (int p = 0; p < phases; ++p) {
    if (p > 0) {
      Backoff backoff;
      for (;;) {
        const uint64_t d = done_[p - 1].load(std::memory_order_acquire);
        if (tag_of(d) != tag) return;
        if (count_of(d) == total_[p - 1].load(std::memory_order_relaxed)) break;
        backoff.pause();
      }
    }
    const int64_t n = total_[p].load(std::memory_order_relaxed);
    auto run_chunk = [&](int64_t c) {
      if (!claim(tag, p, c)) return;
      // A chunk of this run is ours, so the run, and the work it points to, is still live.
      fn_.load(std::memory_order_relaxed)(work_.load(std::memory_order_relaxed), p, c);
      done_[p].fetch_add(1, std::memory_order_acq_rel);
    };
    // Our own share first, in order; then the others', each from its far end.
    for (int64_t c = n * tid / threads_; c < n * (tid + 1) / threads_; ++c) run_chunk(c);
    for (int s = 1; s < threads_; ++s) {
      const int u = (tid + s) % threads_;
      for (int64_t c = n * (u + 1) / threads_ - 1; c >= n * u / threads_; --c) run_chunk(c);
    }
  }
}

void ThreadPool::idle(int tid) {
  uint32_t seen = 0;
  for (;;) {
    uint32_t g = generation_.load(std::memory_order_acquire);
    if (g == seen) {
      const auto until = std::chrono::steady_clock::now() + kIdleSpin;
      // Spin briefly, then yield between looks: on a machine busy with other work this thread
      // may share a core with the one that will start the next run, and must not hold it.
      for (int n = 1; g == seen; ++n) {
        if (n < kIdlePauses)
          cpu_relax();
        else
          std::this_thread::yield();
        g = generation_.load(std::memory_order_acquire);
        if (n % 64 == 0 && std::chrono::steady_clock::now() > until) break;
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
    participate(g, tid);
  }
}

}  // namespace nanomlp
