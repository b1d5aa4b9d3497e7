// The hidden layers' activations, element by element (activation_rules.inc) and over arrays on
// any kernel path. Every path gives the same bits for every input, and so does the NumPy
// replica in python/nanomlp/_activations.py.
#pragma once
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>

#include "nanomlp/optim.h"

namespace nanomlp {

enum class Activation : int { kIdentity, kRelu, kLeakyRelu, kTanh, kSigmoid, kGelu, kGeluTanh };

// PyTorch's default negative_slope of leaky_relu.
constexpr float kDefaultLeakySlope = 0.01f;

// "identity", "relu", "leaky_relu", "tanh", "sigmoid" (or "logistic"), "gelu" (the erf form),
// "gelu_tanh" (PyTorch's approximate='tanh'); std::invalid_argument for any other name.
Activation activation_named(const std::string& name);
const char* activation_name(Activation act);

// Scalar arithmetic for the activation rules: ScalarOps and the comparisons and bit operations
// the SIMD paths have, with the same results.
struct ScalarActOps : ScalarOps {
  using M = bool;
  static M gt(T a, T b) { return a > b; }
  static M isnan(T a) { return a != a; }
  static T select(M m, T a, T b) { return m ? a : b; }
  static T neg_abs(T a) {
    uint32_t u;
    std::memcpy(&u, &a, sizeof u);
    u |= 0x80000000u;
    std::memcpy(&a, &u, sizeof u);
    return a;
  }
  // 2^n for an integral n in [−127, 127]: the biased exponent n + 127 in the exponent field.
  static T pow2(T n) {
    // A NaN n (whose result is NaN anyway) would make the conversion undefined.
    const int32_t i = n == n ? static_cast<int32_t>(n) : 0;
    const uint32_t u = static_cast<uint32_t>(i + 127) << 23;
    T x;
    std::memcpy(&x, &u, sizeof x);
    return x;
  }
};

namespace scalar_rules {
#define NANOMLP_RULE inline
#include "nanomlp/activation_rules.inc"
#undef NANOMLP_RULE
}  // namespace scalar_rules

using scalar_rules::backward_takes_output;

inline float activation_forward(Activation act, float slope, float z) {
  return scalar_rules::activation_forward_rule<ScalarActOps>(act, slope, z);
}

// saved: the output a where backward_takes_output(act), else the pre-activation z.
inline float activation_backward(Activation act, float slope, float g, float saved) {
  return scalar_rules::activation_backward_rule<ScalarActOps>(act, slope, g, saved);
}

// The same over arrays (a may be z; dz may be g), on one kernel path's instructions.
using ActivationForwardFn = void (*)(Activation act, float slope, const float* z, float* a,
                                     int64_t n);
using ActivationBackwardFn = void (*)(Activation act, float slope, const float* g,
                                      const float* saved, float* dz, int64_t n);

struct Kernels;
void activation_forward(const Kernels& kernels, Activation act, float slope, const float* z,
                        float* a, int64_t n);
void activation_backward(const Kernels& kernels, Activation act, float slope, const float* g,
                         const float* saved, float* dz, int64_t n);

}  // namespace nanomlp
