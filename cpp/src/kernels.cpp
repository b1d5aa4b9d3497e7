#include "nanomlp/kernels.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "nanomlp/gemm.h"

namespace nanomlp {

void dense_forward(float* out, const float* in, const float* W, const float* b, int64_t B,
                   int64_t K, int64_t N) {
  GemmOp op;
  op.M = B, op.N = N, op.K = K, op.A = in, op.lda = K, op.B = W, op.ldb = N, op.C = out, op.ldc = N;
  // The bias is added after the whole product, as NumPy's X @ W + b rounds it.
  op.ep.bias = b;
  if (B > 0 && N > 0) select_kernels().gemm(op, 0, B, 0, N);
}

void dense_backward(float* din, float* dW, float* db, const float* dout, const float* in,
                    const float* W, int64_t B, int64_t K, int64_t N) {
  if (din) gemm_nt(B, K, N, dout, N, W, N, din, K);
  gemm_tn(K, N, B, in, K, dout, N, dW, N);
  std::fill(db, db + N, 0.0f);
  for (int64_t i = 0; i < B; ++i) {
    const float* row = dout + i * N;
    for (int64_t j = 0; j < N; ++j) db[j] += row[j];
  }
}

void relu_forward(float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void relu_backward(float* dx, const float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dx[i] = out[i] > 0.0f ? dx[i] : 0.0f;
}

void softmax_xent_rows(float* probs, double* loss, uint8_t* hit, float* dlogits,
                       const float* logits, const int32_t* labels, int64_t B, int64_t C,
                       int64_t scale) {
  // −log of the smallest probability the loss sees: the cap on one row's loss.
  const double max_row_loss = -std::log(static_cast<double>(kMinProbability));
  const float s = static_cast<float>(scale);
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
      for (int64_t j = 0; j < C; ++j) d[j] = (p[j] - (j == y ? 1.0f : 0.0f)) / s;
    }
  }
}

double softmax_xent_forward(float* probs, const float* logits, const int32_t* labels,
                            int64_t* correct, int64_t B, int64_t C) {
  double loss = 0.0;
  int64_t hits = 0;
  for (int64_t i = 0; i < B; ++i) {
    double row = 0.0;
    uint8_t hit = 0;
    softmax_xent_rows(probs + i * C, &row, &hit, nullptr, logits + i * C,
                      labels ? labels + i : nullptr, 1, C, 1);
    loss += row;
    hits += hit;
  }
  if (correct && labels) *correct += hits;
  return labels ? loss : 0.0;
}

void softmax_xent_backward(float* dlogits, const float* probs, const int32_t* labels, int64_t B,
                           int64_t C, int64_t scale) {
  const float s = static_cast<float>(scale);
  for (int64_t i = 0; i < B; ++i) {
    const float* p = probs + i * C;
    float* d = dlogits + i * C;
    for (int64_t j = 0; j < C; ++j) d[j] = (p[j] - (j == labels[i] ? 1.0f : 0.0f)) / s;
  }
}

void sgd_update(float* params, const float* grads, float lr, int64_t n) {
  for (int64_t i = 0; i < n; ++i) params[i] -= lr * grads[i];
}

}  // namespace nanomlp
