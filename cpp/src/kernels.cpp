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

namespace {

// The gradient's row scale: 1 / (divisor·C), or w / (divisor·C), as the reference rounds it.
template <class G>
void scaled_rows(float* d, int64_t C, float divisor, const float* weights, int64_t i, G g) {
  const float denom = divisor * static_cast<float>(C);
  if (!weights) {
    for (int64_t j = 0; j < C; ++j) d[j] = g(j) / denom;
  } else if (divisor == 0.0f) {
    for (int64_t j = 0; j < C; ++j) d[j] = 0.0f;
  } else {
    const float w = weights[i];
    for (int64_t j = 0; j < C; ++j) d[j] = (g(j) * w) / denom;
  }
}

// σ(z) without overflow: exp of a non-positive number only.
float sigmoid(float z) {
  if (z >= 0.0f) return 1.0f / (1.0f + std::exp(-z));
  const float e = std::exp(z);
  return e / (1.0f + e);
}

}  // namespace

void sigmoid_bce_rows(float* probs, double* loss, uint8_t* hit, float* dlogits, const float* logits,
                      const float* const* targets, int64_t B, int64_t C, float divisor,
                      const float* weights) {
  for (int64_t i = 0; i < B; ++i) {
    const float* z = logits + i * C;
    float* p = probs + i * C;
    const float* y = targets ? targets[i] : nullptr;
    // From the logits, before p (which may be z) is written.
    if (y && loss) {
      double row = 0.0;
      for (int64_t j = 0; j < C; ++j) {
        const double zj = z[j];
        row += std::max(zj, 0.0) - zj * y[j] + std::log1p(std::exp(-std::abs(zj)));
      }
      loss[i] = row / static_cast<double>(C);
    }
    for (int64_t j = 0; j < C; ++j) p[j] = sigmoid(z[j]);
    if (!y) continue;
    if (hit) {
      bool all = true;
      for (int64_t j = 0; j < C; ++j) all = all && ((p[j] >= 0.5f) == (y[j] != 0.0f));
      hit[i] = all;
    }
    if (dlogits)
      scaled_rows(dlogits + i * C, C, divisor, weights, i, [&](int64_t j) { return p[j] - y[j]; });
  }
}

void regression_rows(double* loss, float* dlogits, const float* outputs,
                     const float* const* targets, int64_t B, int64_t C, float divisor,
                     const float* weights, Loss kind, double delta) {
  const float delta_f = static_cast<float>(delta);
  for (int64_t i = 0; i < B; ++i) {
    const float* z = outputs + i * C;
    const float* y = targets[i];
    if (loss) {
      double row = 0.0;
      for (int64_t j = 0; j < C; ++j) {
        const double r = z[j] - y[j], a = std::abs(r);
        row += kind == Loss::kMse || a <= delta ? r * r * (kind == Loss::kMse ? 1.0 : 0.5)
                                                : delta * (a - 0.5 * delta);
      }
      loss[i] = row / static_cast<double>(C);
    }
    if (!dlogits) continue;
    if (kind == Loss::kMse)
      scaled_rows(dlogits + i * C, C, divisor, weights, i,
                  [&](int64_t j) { return 2.0f * (z[j] - y[j]); });
    else
      scaled_rows(dlogits + i * C, C, divisor, weights, i,
                  [&](int64_t j) { return std::min(std::max(z[j] - y[j], -delta_f), delta_f); });
  }
}

}  // namespace nanomlp
