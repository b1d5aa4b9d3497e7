// A small persistent pool: the caller and threads−1 workers run one task together, meeting at
// barriers. Workers live as long as the pool; between tasks they spin briefly, then sleep.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace nanomlp {

class ThreadPool {
 public:
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return threads_; }

  // Runs task(tid) on every thread, tid in [0, size()), the caller being tid 0; returns when all
  // are done. The task must not throw, and must call barrier() the same number of times on every
  // thread.
  template <class F>
  void run(F& task) {
    if (threads_ == 1) {
      task(0);
      return;
    }
    dispatch(&call<F>, &task);
  }

  // Waits until every thread of the running task has reached it.
  void barrier();

 private:
  template <class F>
  static void call(void* task, int tid) {
    (*static_cast<F*>(task))(tid);
  }
  void dispatch(void (*fn)(void*, int), void* task);
  void work(int tid);

  const int threads_;
  std::vector<std::thread> workers_;
  void (*fn_)(void*, int) = nullptr;
  void* task_ = nullptr;
  alignas(64) std::atomic<uint64_t> generation_{0};  // bumped once per task
  alignas(64) std::atomic<int> pending_{0};           // workers still in the task
  alignas(64) std::atomic<int> arrived_{0};           // threads at the current barrier
  alignas(64) std::atomic<uint64_t> barrier_generation_{0};
  alignas(64) std::atomic<int> sleepers_{0};
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::condition_variable wake_;
};

}  // namespace nanomlp
