// What the C++ tests share: random buffers, bitwise comparison, the choice of a kernel path.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "nanomlp/gemm.h"

namespace nanomlp::test {

inline uint32_t bits(float x) {
  uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  return u;
}

inline uint64_t bits(double x) {
  uint64_t u;
  std::memcpy(&u, &x, sizeof u);
  return u;
}

// n floats uniform in [lo, hi); the same for the same seed within a build.
inline std::vector<float> random_floats(size_t n, uint32_t seed, float lo = -1.0f,
                                        float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// x to the last bit: shortest decimal that reads back as x, and its bits.
inline std::string exact(float x) {
  char s[48];
  std::snprintf(s, sizeof s, "%.9g (0x%08x)", static_cast<double>(x),
                static_cast<unsigned>(bits(x)));
  return s;
}

// The first of n elements whose bits differ ("" if none), for a failure message. -0 and +0
// differ; so does any NaN from any number.
inline std::string first_difference(const float* got, const float* want, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    if (bits(got[i]) != bits(want[i]))
      return "element " + std::to_string(i) + ": got " + exact(got[i]) + ", want " + exact(want[i]);
  return "";
}

inline std::string first_difference(const std::vector<float>& got, const std::vector<float>& want) {
  if (got.size() != want.size()) return "sizes differ";
  return first_difference(got.data(), want.data(), static_cast<int64_t>(got.size()));
}

// Whether a path sums with fused multiply-adds, else a multiply then an add.
inline bool fuses(const Kernels& kernels) {
  return std::string(kernels.name) != "generic" || generic_fuses();
}

// NANOMLP_KERNEL set to a path for the life of this object, then restored.
class KernelOverride {
 public:
  explicit KernelOverride(const std::string& name) {
    if (const char* old = std::getenv("NANOMLP_KERNEL")) old_ = old, had_ = true;
    setenv("NANOMLP_KERNEL", name.c_str(), 1);
  }
  ~KernelOverride() {
    if (had_)
      setenv("NANOMLP_KERNEL", old_.c_str(), 1);
    else
      unsetenv("NANOMLP_KERNEL");
  }
  KernelOverride(const KernelOverride&) = delete;
  KernelOverride& operator=(const KernelOverride&) = delete;

 private:
  std::string old_;
  bool had_ = false;
};

}  // namespace nanomlp::test
