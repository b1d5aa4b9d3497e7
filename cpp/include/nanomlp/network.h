// An MLP (Linear → ReLU → … → Linear → softmax) over a caller-owned parameter buffer.
// The Network owns only workspaces, sized once for its layer sizes and batch size, so the
// training loop allocates nothing.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

namespace nanomlp {

struct Metrics {
  double loss_sum = 0.0;  // Σ over rows of the cross-entropy
  int64_t correct = 0;    // rows whose argmax equals the label
  int64_t rows = 0;
};

class Network {
 public:
  // layer_sizes: input width, hidden widths…, class count (at least two entries, all ≥ 1).
  Network(std::vector<int64_t> layer_sizes, int64_t batch_size);

  const std::vector<int64_t>& layer_sizes() const { return sizes_; }
  int64_t batch_size() const { return batch_; }
  int64_t rows_capacity() const { return rows_; }
  int64_t num_params() const { return offsets_.back(); }
  // Offset of layer l's weights [K×N] in the parameter buffer; its bias [N] follows them.
  int64_t weight_offset(int64_t l) const { return offsets_[l]; }
  int64_t bias_offset(int64_t l) const { return offsets_[l] + sizes_[l] * sizes_[l + 1]; }

  // One SGD epoch: rows x[order[0]], x[order[1]], … in batches of batch_size, the last one
  // short. should_stop is polled between steps; returns the number of steps taken.
  int64_t train_epoch(float* params, const float* x, const int32_t* labels, const int64_t* order,
                      int64_t n_order, float lr, const std::function<bool()>& should_stop);

  // Forward and backward of the rows x[order[0..B)], B ≤ batch_size: grads (num_params) and the
  // batch's mean loss. No update.
  double gradients(float* grads, const float* params, const float* x, const int32_t* labels,
                   const int64_t* order, int64_t B);

  // Inference in chunks of at most rows_capacity() rows: probabilities [n×C] if probs is not null,
  // loss and accuracy if labels is not null. should_stop is polled between chunks.
  Metrics evaluate(const float* params, const float* x, const int32_t* labels, int64_t n,
                   float* probs, const std::function<bool()>& should_stop = {});

 private:
  int64_t layers() const { return static_cast<int64_t>(sizes_.size()) - 1; }
  // Gathers rows and runs the forward pass; returns the loss sum of the batch.
  double forward(const float* params, const float* x, const int32_t* labels, const int64_t* order,
                 const float* contiguous_rows, int64_t B, Metrics* metrics);
  void backward(float* grads, const float* params, const int32_t* labels, const int64_t* order,
                int64_t B);

  std::vector<int64_t> sizes_;
  int64_t batch_;
  int64_t rows_;                               // workspace rows: the batch, or an inference chunk
  std::vector<int64_t> offsets_;               // per layer, then the total
  std::vector<std::vector<float>> acts_;       // acts_[l]: [rows×sizes_[l]]; last: probabilities
  std::vector<float> delta_, delta_next_;      // [rows×max width]: gradient w.r.t. a layer's output
  std::vector<int32_t> batch_labels_;          // [rows]
  std::vector<float> grads_;                   // [num_params]
};

}  // namespace nanomlp
