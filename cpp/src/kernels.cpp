#include "nanomlp/kernels.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace nanomlp {

void softmax_xent_rows(float* probs, double* loss, uint8_t* hit, float* dlogits,
                       const float* logits, const int32_t* labels, int64_t B, int64_t C,
                       float divisor, const float* weights) {
  // −log of the smallest probability the loss sees: the cap on one row's loss.
  const double max_row_loss = -std::log(static_cast<double>(kMinProbability));
  for (int64_t i = 0; i < B; ++i) {
    const float* z = logits + i * C;
    float* p = probs + i * C;
    int64_t arg = 0;
    for (int64_t j = 1; j < C; ++j)
      if (z[j] > z[arg]) arg = j;
    const float zmax = z[arg];
    // Read before p, which may be z, is overwritten.
    const float zy = labels ? z[labels[i]] : 0.0f;
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
      const double row = std::log(static_cast<double>(sum)) - (static_cast<double>(zy) - zmax);
      loss[i] = std::min(row, max_row_loss);
    }
    if (hit) hit[i] = arg == y;
    if (dlogits) {
      float* d = dlogits + i * C;
      if (!weights) {
        for (int64_t j = 0; j < C; ++j) d[j] = (p[j] - (j == y ? 1.0f : 0.0f)) / divisor;
      } else if (divisor == 0.0f) {
        for (int64_t j = 0; j < C; ++j) d[j] = 0.0f;
      } else {
        const float w = weights[i];
        for (int64_t j = 0; j < C; ++j) d[j] = ((p[j] - (j == y ? 1.0f : 0.0f)) * w) / divisor;
      }
    }
  }
}

}  // namespace nanomlp
