// The thread pool: every chunk of a run exactly once, phase after phase, run after run.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

#include "nanomlp/threads.h"

namespace nanomlp::test {
namespace {

// Runs `runs` runs of the given phases on `pool`; false if a chunk ran twice or never, or
// before the phase ahead of it was complete.
bool runs_in_order(ThreadPool& pool, const std::vector<int64_t>& chunks, int runs) {
  const int phases = static_cast<int>(chunks.size());
  int64_t max_chunks = 1;
  for (int64_t c : chunks) max_chunks = std::max(max_chunks, c);
  std::unique_ptr<std::atomic<int>[]> hits(new std::atomic<int>[phases * max_chunks]);
  std::unique_ptr<std::atomic<int64_t>[]> done(new std::atomic<int64_t>[phases]);
  std::atomic<bool> early{false};
  for (int r = 0; r < runs; ++r) {
    for (int64_t i = 0; i < phases * max_chunks; ++i) hits[i].store(0);
    for (int p = 0; p < phases; ++p) done[p].store(0);
    auto work = [&](int p, int64_t c) {
      if (p > 0 && done[p - 1].load() != chunks[p - 1]) early.store(true);
      hits[p * max_chunks + c].fetch_add(1);
      done[p].fetch_add(1);
    };
    pool.run(phases, chunks.data(), work);
    for (int p = 0; p < phases; ++p)
      for (int64_t c = 0; c < max_chunks; ++c)
        if (hits[p * max_chunks + c].load() != (c < chunks[p] ? 1 : 0)) return false;
  }
  return !early.load();
}

TEST_CASE("every chunk runs once, each phase after the one before, on 1 to 4 threads") {
  // Phases without chunks too: the engine has some (no Wᵀ to pack).
  const std::vector<std::vector<int64_t>> plans = {
      {1}, {7}, {0, 5, 1}, {3, 0, 0, 9, 2}, {16, 16, 16, 16, 16, 16, 16, 16}, {33, 1, 33}};
  for (int threads = 1; threads <= 4; ++threads) {
    ThreadPool pool(threads, 8, 33);
    CHECK(pool.size() == threads);
    for (const std::vector<int64_t>& plan : plans) {
      INFO("threads ", threads, " phases ", plan.size());
      CHECK(runs_in_order(pool, plan, 100));
    }
  }
}

TEST_CASE("a pool outlives runs spaced long enough for its workers to sleep") {
  ThreadPool pool(3, 2, 4);
  const std::vector<int64_t> plan = {4, 4};
  for (int i = 0; i < 3; ++i) {
    CHECK(runs_in_order(pool, plan, 1));
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

TEST_CASE("a pool refuses what it was not sized for") {
  CHECK_THROWS_AS(ThreadPool(0, 1, 1), std::invalid_argument);
  CHECK_THROWS_AS(ThreadPool(1, 0, 1), std::invalid_argument);
  CHECK_THROWS_AS(ThreadPool(1, 1, 0), std::invalid_argument);
  ThreadPool pool(2, 2, 4);
  auto work = [](int, int64_t) {};
  const int64_t too_many_chunks[] = {5};
  CHECK_THROWS_AS(pool.run(1, too_many_chunks, work), std::logic_error);
  const int64_t too_many_phases[] = {1, 1, 1};
  CHECK_THROWS_AS(pool.run(3, too_many_phases, work), std::logic_error);
  // Still usable after a refusal.
  const std::vector<int64_t> plan = {4, 4};
  CHECK(runs_in_order(pool, plan, 10));
}

}  // namespace
}  // namespace nanomlp::test
