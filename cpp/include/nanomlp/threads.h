// A small persistent pool that runs a sequence of phases, each a set of independent chunks of
// work. Each chunk has a home thread (thread t of T owns the t-th contiguous share), which runs
// it if no other thread took it first: a thread done with its own chunks takes the others',
// from the far end. So a thread that keeps the same share from run to run keeps its data in
// its own cache, and a thread the OS deschedules (the machine may be shared) delays nobody:
// there are no barriers, only "phase p−1 is complete" counters, and the caller does not wait
// for workers that arrive late. Which thread runs a chunk never changes what the chunk
// computes, so the results do not depend on the thread count.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace nanomlp {

class ThreadPool {
 public:
  // threads ≥ 1 (the caller and threads−1 workers); a run has at most max_phases phases of
  // at most max_chunks chunks each.
  ThreadPool(int threads, int max_phases, int64_t max_chunks);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return threads_; }

  // Runs work(p, c) for every phase p in [0, phases) and chunk c in [0, chunks[p]); phase p
  // starts once every chunk of phase p−1 is done. Returns when all are done. work must not
  // throw and is called only while this run is in progress.
  template <class F>
  void run(int phases, const int64_t* chunks, F& work) {
    if (threads_ == 1) return run_here(phases, chunks, work);
    dispatch(phases, chunks, &call<F>, &work);
  }

  // The same on the calling thread alone, in order: for work too small to hand out, where
  // waking the workers would cost more than it saves.
  template <class F>
  static void run_here(int phases, const int64_t* chunks, F& work) {
    for (int p = 0; p < phases; ++p)
      for (int64_t c = 0; c < chunks[p]; ++c) work(p, c);
  }

 private:
  // Ends and joins every worker started so far.
  void stop_workers();
  template <class F>
  static void call(void* work, int phase, int64_t chunk) {
    (*static_cast<F*>(work))(phase, chunk);
  }
  using WorkFn = void (*)(void*, int, int64_t);
  void dispatch(int phases, const int64_t* chunks, WorkFn fn, void* work);
  // Claims and runs chunks of run `tag`, as thread tid, until it is over or has moved on.
  void participate(uint32_t tag, int tid);
  // Claims chunk c of phase p for run tag: true once, for one thread.
  bool claim(uint32_t tag, int p, int64_t c);
  void idle(int tid);

  const int threads_;
  const int max_phases_;
  const int64_t max_chunks_;
  // (run tag << 32) | count: per chunk, whether it is claimed; per phase, the chunks done. The
  // tag lets a late thread tell that the run it joined is over.
  std::unique_ptr<std::atomic<uint64_t>[]> claimed_, done_;
  std::unique_ptr<std::atomic<int64_t>[]> total_;
  std::atomic<int> phases_{0};
  std::atomic<WorkFn> fn_{nullptr};
  std::atomic<void*> work_{nullptr};
  uint32_t tag_ = 0;                                 // the caller's count of runs
  alignas(64) std::atomic<uint32_t> generation_{0};  // the tag of the latest run
  alignas(64) std::atomic<int> sleepers_{0};
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<std::thread> workers_;
};

}  // namespace nanomlp
