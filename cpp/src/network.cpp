#include "nanomlp/network.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

#include "nanomlp/kernels.h"

namespace nanomlp {

// Inference runs in chunks this tall at least: large enough to amortise per-call overhead,
// small enough that the activations stay in cache.
constexpr int64_t kInferenceChunk = 256;

Network::Network(std::vector<int64_t> layer_sizes, int64_t batch_size)
    : sizes_(std::move(layer_sizes)), batch_(batch_size) {
  if (sizes_.size() < 2) throw std::invalid_argument("layer_sizes needs at least two entries");
  for (int64_t s : sizes_)
    if (s < 1) throw std::invalid_argument("every layer size must be >= 1");
  if (batch_ < 1) throw std::invalid_argument("batch_size must be >= 1");
  rows_ = std::max(batch_, kInferenceChunk);
  int64_t offset = 0, widest = 0;
  for (size_t l = 0; l + 1 < sizes_.size(); ++l) {
    offsets_.push_back(offset);
    offset += sizes_[l] * sizes_[l + 1] + sizes_[l + 1];
  }
  offsets_.push_back(offset);
  for (int64_t s : sizes_) {
    acts_.emplace_back(static_cast<size_t>(rows_ * s));
    widest = std::max(widest, s);
  }
  delta_.resize(static_cast<size_t>(rows_ * widest));
  delta_next_.resize(static_cast<size_t>(rows_ * widest));
  batch_labels_.resize(static_cast<size_t>(rows_));
  grads_.resize(static_cast<size_t>(offset));
}

double Network::forward(const float* params, const float* x, const int32_t* labels,
                        const int64_t* order, const float* contiguous_rows, int64_t B,
                        Metrics* metrics) {
  const int64_t in = sizes_[0];
  const float* input = contiguous_rows;
  if (order) {
    // Only the batch is gathered, never the dataset.
    float* dst = acts_[0].data();
    for (int64_t i = 0; i < B; ++i) {
      std::memcpy(dst + i * in, x + order[i] * in, sizeof(float) * in);
      if (labels) batch_labels_[i] = labels[order[i]];
    }
    input = dst;
  } else if (labels) {
    std::copy(labels, labels + B, batch_labels_.begin());
  }
  const int64_t L = layers();
  for (int64_t l = 0; l < L; ++l) {
    const float* src = l == 0 ? input : acts_[l].data();
    float* dst = acts_[l + 1].data();
    dense_forward(dst, src, params + weight_offset(l), params + bias_offset(l), B, sizes_[l],
                  sizes_[l + 1]);
    if (l + 1 < L) relu_forward(dst, B * sizes_[l + 1]);
  }
  // The logits are overwritten by the probabilities: the backward pass needs only those.
  float* out = acts_[L].data();
  int64_t correct = 0;
  const double loss = softmax_xent_forward(out, out, labels ? batch_labels_.data() : nullptr,
                                           &correct, B, sizes_[L]);
  if (metrics) {
    metrics->loss_sum += loss;
    metrics->correct += correct;
    metrics->rows += B;
  }
  return loss;
}

void Network::backward(float* grads, const float* params, const int32_t* labels,
                       const int64_t* order, int64_t B) {
  const int64_t L = layers();
  softmax_xent_backward(delta_.data(), acts_[L].data(), batch_labels_.data(), B, sizes_[L], B);
  for (int64_t l = L - 1; l >= 0; --l) {
    const int64_t K = sizes_[l], N = sizes_[l + 1];
    // The first layer's input gradient is never used.
    float* din = l > 0 ? delta_next_.data() : nullptr;
    dense_backward(din, grads + weight_offset(l), grads + bias_offset(l), delta_.data(),
                   acts_[l].data(), params + weight_offset(l), B, K, N);
    if (l > 0) {
      relu_backward(din, acts_[l].data(), B * K);
      std::swap(delta_, delta_next_);
    }
  }
}

double Network::gradients(float* grads, const float* params, const float* x,
                          const int32_t* labels, const int64_t* order, int64_t B) {
  if (B < 1 || B > batch_) throw std::invalid_argument("rows must be in [1, batch_size]");
  const double loss = forward(params, x, labels, order, nullptr, B, nullptr);
  backward(grads, params, labels, order, B);
  return loss / static_cast<double>(B);
}

int64_t Network::train_epoch(float* params, const float* x, const int32_t* labels,
                             const int64_t* order, int64_t n_order, float lr,
                             const std::function<bool()>& should_stop) {
  int64_t steps = 0;
  for (int64_t start = 0; start < n_order; start += batch_) {
    if (should_stop && should_stop()) break;
    const int64_t B = std::min(batch_, n_order - start);
    forward(params, x, labels, order + start, nullptr, B, nullptr);
    backward(grads_.data(), params, labels, order + start, B);
    sgd_update(params, grads_.data(), lr, num_params());
    ++steps;
  }
  return steps;
}

Metrics Network::evaluate(const float* params, const float* x, const int32_t* labels, int64_t n,
                          float* probs, const std::function<bool()>& should_stop) {
  Metrics metrics;
  const int64_t C = sizes_.back();
  for (int64_t start = 0; start < n; start += rows_) {
    if (should_stop && should_stop()) break;
    const int64_t B = std::min(rows_, n - start);
    forward(params, nullptr, labels ? labels + start : nullptr, nullptr,
            x + start * sizes_[0], B, &metrics);
    if (probs) std::memcpy(probs + start * C, acts_.back().data(), sizeof(float) * B * C);
  }
  return metrics;
}

}  // namespace nanomlp
