#include "nanomlp/optim.h"

#include <cmath>

namespace nanomlp {

UpdateRule make_rule(const OptimizerConfig& c, double lr, int64_t t, bool weights,
                     double clip_value) {
  // Each scalar as the reference computes it: in double (Python floats), then rounded to
  // float32 once where it meets the arrays (its dt(...)).
  UpdateRule u;
  u.kind = c.kind;
  u.clip = static_cast<float>(clip_value);
  u.decay = weights && c.weight_decay != 0.0;
  u.weight_decay = static_cast<float>(c.weight_decay);
  u.neg_lr = static_cast<float>(-lr);
  u.eps = static_cast<float>(c.eps);
  switch (c.kind) {
    case OptimizerKind::kSgd:
      u.momentum = static_cast<float>(c.momentum);
      u.nesterov = c.nesterov;
      u.first = t == 1;
      break;
    case OptimizerKind::kAdam: {
      u.decoupled = c.decoupled;
      u.decay_factor = static_cast<float>(1.0 - lr * c.weight_decay);
      u.lerp_weight = static_cast<float>(1.0 - c.beta1);
      u.sq_decay = static_cast<float>(c.beta2);
      u.sq_weight = static_cast<float>(1.0 - c.beta2);
      u.amsgrad = c.amsgrad;
      // Python's beta ** step and x ** 0.5 call the C library's pow, as here.
      const double step = static_cast<double>(t);
      const double bias_correction1 = 1.0 - std::pow(c.beta1, step);
      const double bias_correction2 = 1.0 - std::pow(c.beta2, step);
      const double step_size = lr / bias_correction1;
      u.inv_bias_correction2_sqrt = static_cast<float>(1.0 / std::pow(bias_correction2, 0.5));
      u.neg_step_size = static_cast<float>(-step_size);
      break;
    }
    case OptimizerKind::kRmsprop:
      u.momentum = static_cast<float>(c.momentum);
      u.centered = c.centered;
      u.lerp_weight = static_cast<float>(1.0 - c.alpha);
      u.sq_decay = static_cast<float>(c.alpha);
      u.sq_weight = static_cast<float>(1.0 - c.alpha);
      break;
  }
  // reference._lerp_ compares and subtracts in float32.
  u.lerp_small = std::fabs(u.lerp_weight) < 0.5f;
  u.lerp_rest = 1.0f - u.lerp_weight;
  return u;
}

}  // namespace nanomlp
