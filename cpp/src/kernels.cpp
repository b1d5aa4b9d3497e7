#include "nanomlp/kernels.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace nanomlp {

void softmax_xent_rows(float* probs, double* loss, uint8_t* hit, float* dlogits,
                       const float* logits, const int32_t* labels, int64_t B, int64_t C,
                       float divisor, const float* weights, double smoothing) {
  // −log of the smallest probability the loss sees: the cap on one row's loss.
  const double max_row_loss = -std::log(static_cast<double>(kMinProbability));
  // The targets (1 − ε)·onehot + ε/C, each rounded once from double, as the reference rounds
  // them: 1 and 0 without smoothing.
  const float off = static_cast<float>(smoothing / static_cast<double>(C));
  const float on = static_cast<float>((1.0 - smoothing) + smoothing / static_cast<double>(C));
  for (int64_t i = 0; i < B; ++i) {
    const float* z = logits + i * C;
    float* p = probs + i * C;
    int64_t arg = 0;
    for (int64_t j = 1; j < C; ++j)
      if (z[j] > z[arg]) arg = j;
    const float zmax = z[arg];
    // Read before p, which may be z, is overwritten.
    const float zy = labels ? z[labels[i]] : 0.0f;
    // With label smoothing, Σ_j of every class's capped −log p_j, also read before p is
    // written: a first pass recomputes the same sum of exponentials.
    double smooth_sum = 0.0;
    if (labels && loss && smoothing != 0.0) {
      float s = 0.0f;
      for (int64_t j = 0; j < C; ++j) s += std::exp(z[j] - zmax);
      const double lse = std::log(static_cast<double>(s));
      for (int64_t j = 0; j < C; ++j)
        smooth_sum += std::min(lse - (static_cast<double>(z[j]) - zmax), max_row_loss);
    }
    float sum = 0.0f;
    for (int64_t j = 0; j < C; ++j) {
      p[j] = std::exp(z[j] - zmax);
      sum += p[j];
    }
    for (int64_t j = 0; j < C; ++j) p[j] /= sum;
    if (!labels) continue;
    const int32_t y = labels[i];
    if (loss) {
      // log-sum-exp form: stable where log(p) would underflow to −inf.
      const double lse = std::log(static_cast<double>(sum));
      const double row = std::min(lse - (static_cast<double>(zy) - zmax), max_row_loss);
      loss[i] = smoothing == 0.0
                    ? row
                    : (1.0 - smoothing) * row + smoothing / static_cast<double>(C) * smooth_sum;
    }
    if (hit) hit[i] = arg == y;
    if (dlogits) {
      float* d = dlogits + i * C;
      if (!weights) {
        for (int64_t j = 0; j < C; ++j) d[j] = (p[j] - (j == y ? on : off)) / divisor;
      } else if (divisor == 0.0f) {
        for (int64_t j = 0; j < C; ++j) d[j] = 0.0f;
      } else {
        const float w = weights[i];
        for (int64_t j = 0; j < C; ++j) d[j] = ((p[j] - (j == y ? on : off)) * w) / divisor;
      }
    }
  }
}

}  // namespace nanomlp
