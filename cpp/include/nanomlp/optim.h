// The optimizers' updates (SGD, Adam, AdamW, RMSprop), gradient clipping and dropout masks:
// the engine's side of python/nanomlp/optim.py, clipping.py and dropout.py, formula for
// formula. The per-step scalars are computed in double as Python computes them, then rounded
// to float32 once (make_rule); the element updates round every operation in float32.
#pragma once
#include <cmath>
#include <cstdint>

namespace nanomlp {

enum class OptimizerKind : int { kSgd, kAdam, kRmsprop };

// The hyperparameters of an optimizer, as the Python API holds them (Python floats: double).
struct OptimizerConfig {
  OptimizerKind kind = OptimizerKind::kSgd;
  double momentum = 0.0;  // SGD, RMSprop
  bool nesterov = false;  // SGD
  double weight_decay = 0.0;
  double beta1 = 0.9, beta2 = 0.999;  // Adam
  double eps = 1e-8;                  // Adam, RMSprop
  bool amsgrad = false;               // Adam
  bool decoupled = false;             // AdamW: decay the weights, not the gradient
  double alpha = 0.99;                // RMSprop
  bool centered = false;              // RMSprop
};

// One step's update of a set of parameters, its scalars already rounded to float32.
// State slots: SGD s[0] momentum_buffer; Adam s[0] exp_avg, s[1] exp_avg_sq, s[2]
// max_exp_avg_sq; RMSprop s[0] square_avg, s[1] momentum_buffer, s[2] grad_avg.
struct UpdateRule {
  OptimizerKind kind = OptimizerKind::kSgd;
  float clip = 0.0f;          // clip_value: the gradient clamped to [−clip, clip]; 0: off
  bool decay = false;         // weight decay applies (the weights, when weight_decay != 0)
  float weight_decay = 0.0f;  // L2: g + weight_decay·w
  float decay_factor = 1.0f;  // AdamW: w·(1 − lr·weight_decay)
  bool decoupled = false;     // AdamW
  float neg_lr = 0.0f;        // −lr (SGD, RMSprop)
  float momentum = 0.0f;      // SGD, RMSprop; 0: no momentum buffer
  bool nesterov = false;      // SGD
  bool first = false;         // SGD: the optimizer's first step (the buffer takes g)
  bool lerp_small = true;     // lerp weight below 0.5: PyTorch's first formula
  float lerp_weight = 0.0f;   // 1 − β1 (Adam's exp_avg), 1 − α (RMSprop's grad_avg)
  float lerp_rest = 1.0f;     // 1 − lerp_weight, rounded
  float sq_decay = 0.0f;      // β2 (Adam), α (RMSprop)
  float sq_weight = 0.0f;     // 1 − β2, 1 − α
  float inv_bias_correction2_sqrt = 1.0f;  // Adam: 1 / sqrt(1 − β2^t)
  float eps = 0.0f;
  float neg_step_size = 0.0f;  // Adam: −lr / (1 − β1^t)
  bool amsgrad = false;
  bool centered = false;
};

// The rule of step t (t ≥ 1: the optimizer's t-th update, Adam's bias corrections) at learning
// rate lr, for the weights (weight decay) or the biases (none); clip_value 0 is off.
UpdateRule make_rule(const OptimizerConfig& c, double lr, int64_t t, bool weights,
                     double clip_value);

// Optimizer state below this magnitude is stored as zero. A state whose inputs stop (a unit
// that never fires, a pixel that is always blank) decays geometrically towards zero, and on
// its way through the subnormal range every product costs the CPU a microcode assist of a
// hundred cycles and more: that made Adam twice as slow on MNIST. Values this small move no
// parameter (2^-100 is about 8e-31), and the reference flushes at the same place.
constexpr float kTinyState = 0x1p-100f;

// Scalar float arithmetic for the rules: one IEEE operation each, as x86's SIMD min and max
// behave (the second operand when one is NaN), so that the vector paths agree to the bit.
struct ScalarOps {
  using T = float;
  static T set1(float x) { return x; }
  static T add(T a, T b) { return a + b; }
  static T sub(T a, T b) { return a - b; }
  static T mul(T a, T b) { return a * b; }
  static T div(T a, T b) { return a / b; }
  static T sqrt(T a) { return std::sqrt(a); }
  static T min(T a, T b) { return a < b ? a : b; }
  static T max(T a, T b) { return a > b ? a : b; }
  // NaN stays NaN.
  static T flush_tiny(T a) { return std::fabs(a) < kTinyState ? 0.0f : a; }
};

namespace scalar_rules {
#define NANOMLP_RULE inline
#include "nanomlp/update_rules.inc"
#undef NANOMLP_RULE
}  // namespace scalar_rules

// One parameter's update: the new w from its gradient g; s: its state slots (3, any unused).
inline float apply_update(const UpdateRule& u, float w, float g, float* s) {
  return scalar_rules::apply_rule<ScalarOps>(u, w, g, s);
}

// ---- Dropout masks: dropout.py's counter-based recipe (SplitMix64) ------------------------

constexpr uint64_t kGamma = 0x9E3779B97F4A7C15ull;

inline uint64_t fmix64(uint64_t z) {
  z ^= z >> 30;
  z *= 0xBF58476D1CE4E5B9ull;
  z ^= z >> 27;
  z *= 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// SplitMix64's value-th output for the state key.
inline uint64_t absorb(uint64_t key, uint64_t value) { return fmix64(key + (value + 1) * kGamma); }

// The key of one row of one hidden layer at one step; its units follow by absorb(key, unit).
inline uint64_t dropout_row_key(uint64_t seed, uint64_t layer, uint64_t step, uint64_t row) {
  return absorb(absorb(absorb(seed, layer), step), row);
}

// mask[0..n): unit j is dropped (0) when the top 24 bits of absorb(key, j), as a fraction in
// [0, 1), fall below p, else kept with the scale 1/(1 − p).
inline void dropout_row(float* mask, uint64_t key, int64_t n, float p, float scale) {
  for (int64_t j = 0; j < n; ++j) {
    const float u = static_cast<float>(absorb(key, static_cast<uint64_t>(j)) >> 40) * 0x1p-24f;
    mask[j] = u < p ? 0.0f : scale;
  }
}

// ---- Gradient clipping by norm ------------------------------------------------------------

// clipping.NORM_LANES: entry i of the gradients (all of them, in order) goes to accumulator
// i % 8, in double.
constexpr int64_t kNormLanes = 8;

// Adds the squares of g[0..n), the entries first + 0 … first + n − 1 of the whole, to lanes.
inline void accumulate_squares(double* lanes, const float* g, int64_t n, int64_t first) {
  for (int64_t i = 0; i < n; ++i) {
    const double x = static_cast<double>(g[i]);
    lanes[(first + i) % kNormLanes] += x * x;
  }
}

// sqrt(0 + lane 0 + … + lane 7).
inline double lanes_norm(const double* lanes) {
  double total = 0.0;
  for (int64_t l = 0; l < kNormLanes; ++l) total += lanes[l];
  return std::sqrt(total);
}

// torch's clip_grad_norm_ coefficient, min(1, max_norm / (norm + 1e-6)), rounded to float32.
inline float clip_coefficient(double norm, double max_norm) {
  double coef = max_norm / (norm + 1e-6);
  if (coef > 1.0) coef = 1.0;
  return static_cast<float>(coef);
}

}  // namespace nanomlp
