// An MLP (Linear → activation → … → Linear → softmax) over a caller-owned parameter buffer,
// one activation per hidden layer (ReLU by default).
// The Network owns only workspaces, sized once for its layer sizes and batch size, and its
// threads, so the training loop allocates nothing. An epoch trains a copy of the parameters
// laid out for the threads (rows of W on cache lines) and writes it back when it ends, also
// when it is stopped.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <new>
#include <vector>

#include "nanomlp/gemm.h"
#include "nanomlp/kernels.h"
#include "nanomlp/threads.h"

namespace nanomlp {

// Allocates on cache-line boundaries, so that threads writing neighbouring bands of a buffer
// whose rows are whole lines never share a line.
template <class T>
struct CacheAligned {
  using value_type = T;
  static constexpr std::align_val_t kAlign{64};
  CacheAligned() = default;
  template <class U>
  CacheAligned(const CacheAligned<U>&) {}
  T* allocate(size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), kAlign)); }
  void deallocate(T* p, size_t) { ::operator delete(p, kAlign); }
  template <class U>
  bool operator==(const CacheAligned<U>&) const {
    return true;
  }
  template <class U>
  bool operator!=(const CacheAligned<U>&) const {
    return false;
  }
};
using Floats = std::vector<float, CacheAligned<float>>;

struct Metrics {
  // Σ over rows of the loss; in a training epoch weighted by the rows' sample weights, whose
  // sum is weight_sum (1 a row without them).
  double loss_sum = 0.0;
  double weight_sum = 0.0;
  int64_t correct = 0;  // rows whose argmax equals the label
  int64_t rows = 0;
};

// Minibatch SGD, PyTorch's formulation: weight decay on the weights only; momentum > 0 needs a
// velocity buffer, one float per parameter, kept between epochs. The velocity is updated as
// v = momentum·v + g from the first step on (no first-step copy): the original SGD-only API.
struct SgdOptions {
  float lr = 0.01f;
  float momentum = 0.0f;
  bool nesterov = false;
  float weight_decay = 0.0f;
};

// An epoch's settings beyond the optimizer's hyperparameters.
struct EpochOptions {
  const double* lr = nullptr;  // [steps]: the learning rate of each step, or null:
  double constant_lr = 0.01;   // this one for every step
  int64_t step = 0;            // the optimizer's updates before this epoch (Adam's t − 1)
  bool clone_first = true;     // SGD: momentum_buffer = g on the optimizer's first update
  const float* sample_weight = nullptr;  // [rows of x]: each row's weight, or null: all 1
  const double* dropout = nullptr;       // [hidden layers]: each one's rate (0: none), or null
  uint64_t dropout_seed = 0;
  uint64_t first_step = 0;  // the masks' step number of the epoch's first batch
  double clip_value = 0.0;  // > 0: each gradient entry clamped to [−clip_value, clip_value]
  double clip_norm = 0.0;   // > 0: all the gradients scaled to a 2-norm of at most this
  // Not null: each step adds its rows' losses (weighted) from its forward pass, before its
  // update: the running training loss scikit-learn reports, at no extra pass over the data.
  Metrics* metrics = nullptr;
};

class Network {
 public:
  // layer_sizes: input width, hidden widths…, class count (at least two entries, all ≥ 1).
  // threads ≥ 1: the results are bit-identical for any count. The kernel path is chosen here
  // (NANOMLP_KERNEL, else the best the CPU runs). activations: one per hidden layer, or empty
  // for ReLU everywhere; negative_slope: leaky_relu's (std::invalid_argument if not finite).
  // label_smoothing ε in [0, 1]: the loss of training and evaluation is the cross-entropy
  // against (1 − ε)·onehot + ε/C, as PyTorch's CrossEntropyLoss(label_smoothing=ε).
  // loss: the output layer's (kernels.h); delta > 0: Huber's. Cross-entropy reads int32
  // labels, the others float32 targets [rows×C] (the overloads taking const float*; the
  // wrong kind throws std::invalid_argument).
  Network(std::vector<int64_t> layer_sizes, int64_t batch_size, int threads = 1,
          std::vector<Activation> activations = {}, float negative_slope = kDefaultLeakySlope,
          double label_smoothing = 0.0, Loss loss = Loss::kCrossEntropy, double delta = 1.0);

  const std::vector<int64_t>& layer_sizes() const { return sizes_; }
  int64_t batch_size() const { return batch_; }
  int threads() const { return pool_.size(); }
  const char* kernel() const { return kernels_->name; }
  int64_t num_params() const { return offsets_.back(); }
  // The activation of hidden layer h (0 ≤ h < hidden layers), and leaky_relu's slope.
  Activation activation(int64_t h) const { return act_[h + 1]; }
  float negative_slope() const { return slope_; }
  double label_smoothing() const { return smoothing_; }
  Loss loss() const { return loss_; }
  double delta() const { return delta_; }
  // Offset of layer l's weights [K×N] in the parameter buffer; its bias [N] follows them.
  int64_t weight_offset(int64_t l) const { return offsets_[l]; }
  int64_t bias_offset(int64_t l) const { return offsets_[l] + sizes_[l] * sizes_[l + 1]; }

  // One SGD epoch: rows x[order[0]], x[order[1]], … in batches of batch_size, the last one
  // short. velocity (num_params, laid out as params) is read and updated when
  // sgd.momentum > 0, and may be null otherwise. should_stop is polled between steps, and in
  // a large step between its chunks too: a step it stops before the step wrote the parameters
  // is abandoned, so the parameters are always those after a whole number of steps. Returns
  // the number of steps taken.
  int64_t train_epoch(float* params, float* velocity, const float* x, const int32_t* labels,
                      const int64_t* order, int64_t n_order, const SgdOptions& sgd,
                      const std::function<bool()>& should_stop);

  // One epoch of any optimizer. Per step i, in the reference's order: dropout masks of the
  // hidden layers for step first_step + i and the batch's dataset rows; forward; backward with
  // the batch's sample weights; clip_value; clip_norm; the update at lr[i], step + i + 1.
  // state[0..3): the optimizer's state arrays (num_params each, laid out as params; see
  // UpdateRule for the slots); the slots the optimizer uses must not be null
  // (std::invalid_argument). Without clip_norm the update is fused into the weight-gradient
  // products; with it the gradients are written to a buffer, their norm taken, then updated.
  int64_t train_epoch(float* params, float* const* state, const float* x, const int32_t* labels,
                      const int64_t* order, int64_t n_order, const OptimizerConfig& optimizer,
                      const EpochOptions& options, const std::function<bool()>& should_stop);

  // The same over float32 targets [rows of x × C], for the losses other than cross-entropy.
  int64_t train_epoch(float* params, float* const* state, const float* x, const float* targets,
                      const int64_t* order, int64_t n_order, const OptimizerConfig& optimizer,
                      const EpochOptions& options, const std::function<bool()>& should_stop);

  // A step of at least poll_flops (forward and backward) looks at should_stop between its
  // chunks; a training step of at least unfused_flops writes its gradients to a buffer and
  // updates the parameters in a phase of its own, so that it can be abandoned until then. The
  // defaults suit real use (network.cpp); tests lower them to reach every form on small
  // networks. Neither changes a result.
  void set_large_step(int64_t poll_flops, int64_t unfused_flops);

  // Which state slots an optimizer reads and writes.
  static void state_slots(const OptimizerConfig& optimizer, bool used[3]);

  // Forward and backward of the rows x[order[0..B)], B ≤ batch_size: grads (num_params) and the
  // batch's mean loss. No update.
  double gradients(float* grads, const float* params, const float* x, const int32_t* labels,
                   const int64_t* order, int64_t B);

  // Inference in chunks of max(batch_size, 256) rows at most: probabilities [n×C] if probs is
  // not null, loss and accuracy if labels is not null. should_stop is polled between chunks
  // of rows, and within a large chunk's products.
  Metrics evaluate(const float* params, const float* x, const int32_t* labels, int64_t n,
                   float* probs, const std::function<bool()>& should_stop = {});
  // Over float32 targets [n×C] (or null) and float32 target rows.
  double gradients(float* grads, const float* params, const float* x, const float* targets,
                   const int64_t* order, int64_t B);
  Metrics evaluate(const float* params, const float* x, const float* targets, int64_t n,
                   float* outputs, const std::function<bool()>& should_stop = {});

 private:
  // One batch of B rows, x[order[i]] (or contiguous rows when order is null). Always the
  // forward pass; then, when grads is not null, the backward pass into grads, or, when update,
  // the backward pass and the update of params by rule_w_ and rule_b_ (with the step's
  // dropout, sample weights and clipping). Adds loss and hits to metrics when not null.
  // params is only written when update.
  // One of labels and targets is read: the one of the loss (the other is null).
  // A large step polls poll_ between chunks; false: it said stop before the step wrote the
  // parameters, and the step was abandoned (nothing written, nothing added to metrics).
  bool step(float* grads, bool update, const float* x, const int32_t* labels, const float* targets,
            const int64_t* order, int64_t B, Metrics* metrics);
  // The bodies of the public overloads; check_targets: std::invalid_argument if the kind
  // given is not the loss's.
  void check_targets(bool labels, bool targets) const;
  int64_t run_epoch(float* params, float* const* state, const float* x, const int32_t* labels,
                    const float* targets, const int64_t* order, int64_t n_order,
                    const OptimizerConfig& optimizer, const EpochOptions& options,
                    const std::function<bool()>& should_stop);
  double run_gradients(float* grads, const float* params, const float* x, const int32_t* labels,
                       const float* targets, const int64_t* order, int64_t B);
  Metrics run_evaluate(const float* params, const float* x, const int32_t* labels,
                       const float* targets, int64_t n, float* probs,
                       const std::function<bool()>& should_stop);
  // The clip_norm path, after the backward pass into grads_: the norm (one chunk, in the
  // fixed order), then the update of the rows [chunk share] of every layer.
  void clip_and_norm();
  void update_from_grads(int64_t chunk, int64_t chunks);
  // The parameters the steps use: the caller's, or the padded copy train_epoch works on
  // (with the optimizer's state arrays that are not null, in copies of the same layout).
  void use_params(float* params);
  void use_padded_copy(const float* params, float* const* state);
  void copy_back(float* params, float* const* state) const;
  void copy_padded(float* dst, const float* src, bool to_padded) const;

  int64_t layers() const { return static_cast<int64_t>(sizes_.size()) - 1; }
  int64_t forward_flops(int64_t B) const;  // of a forward pass of B rows
  // What the backward of hidden layer l's activation reads, in a training step: the layer's
  // output acts_[l] (ReLU; tanh and sigmoid without dropout, which would scale it), or the
  // values its forward saved to saved_[l] (z; tanh's and sigmoid's output before dropout).
  bool saves(int64_t l, bool dropout) const;

  std::vector<int64_t> sizes_;
  int64_t batch_;
  int64_t rows_;                  // workspace rows: the batch, or an inference chunk
  std::vector<int64_t> offsets_;  // per layer, then the total
  const Kernels* kernels_;
  ThreadPool pool_;
  std::vector<Floats> acts_;  // acts_[l]: [rows×sizes_[l]], l ≥ 1; last: probabilities
  std::vector<const float*> batch_rows_;  // [rows]: the batch's rows, read in place
  std::vector<Floats> deltas_;            // deltas_[l]: [rows×sizes_[l]], l ≥ 1: dLoss/dZ
  std::vector<Activation> act_;           // act_[l]: hidden layer l's activation, 1 ≤ l < L
  float slope_;                           // leaky_relu's negative_slope
  double smoothing_ = 0.0;                // label smoothing ε
  Loss loss_ = Loss::kCrossEntropy;
  double delta_ = 1.0;                       // Huber's
  std::vector<const float*> batch_targets_;  // [rows]: the batch's target rows, in place
  // saved_[l]: [batch×sizes_[l]], what the derivative of act_[l] reads (see saves), sized
  // for z at construction, for outputs before dropout on the first epoch with dropout.
  std::vector<Floats> saved_;
  std::vector<Floats> wt_;  // wt_[l]: layer l's Wᵀ [N×K], l ≥ 1
  std::vector<float> db_;   // [max width]: a bias gradient before its update
  // During an epoch the weights live in padded_: each row of W starts a cache line, so
  // threads updating neighbouring bands of columns share none. The state arrays likewise.
  Floats padded_, padded_state_[3];
  std::vector<int64_t> padded_w_, padded_b_, padded_ld_;  // per layer: offsets, row stride
  std::vector<float*> w_, b_;          // per layer: the weights and biases in use
  std::vector<float*> sw_[3], sb_[3];  // per layer: their state slots, or null
  // The current training step's settings (train_epoch sets them before each step).
  UpdateRule rule_w_, rule_b_;  // the weights' and the biases' updates
  float clip_value_ = 0.0f;     // with clip_norm: clip_value, applied before the norm
  double clip_norm_ = 0.0;      // > 0: the norm phase of the unfused path
  bool unfused_ = false;        // gradients to grads_ first (clip_norm, or a large step)
  Floats grads_;                // [num_params]: the gradients, sized on first use
  const std::function<bool()>* poll_ = nullptr;  // the running epoch's should_stop, or null
  int64_t poll_flops_, unfused_flops_;           // see set_large_step
  bool weighted_ = false;                        // sample weights: batch_weight_ and weight_total_
  std::vector<float> batch_weight_;              // [rows]
  float weight_total_ = 0.0f;                  // Σ batch_weight_, in double in row order, rounded
  bool dropout_ = false;                       // any hidden layer with dropout this epoch
  std::vector<float> drop_rate_, drop_scale_;  // per layer l (hidden: 1 ≤ l < L), 0: none
  std::vector<Floats> drop_;                   // drop_[l]: [batch×sizes_[l]], sized on first use
  uint64_t drop_seed_ = 0, drop_step_ = 0;
  std::vector<int64_t> ldw_;               // per layer: the row stride of w_
  std::vector<GemmOp> forward_, dx_, dw_;  // per layer, the products of the current step
  std::vector<GemmChunks> forward_chunks_, dx_chunks_, dw_chunks_;
  std::vector<int64_t> phase_chunks_;  // per phase of a step
  std::vector<int32_t> batch_labels_;  // [rows]
  std::vector<double> row_loss_;       // [rows]
  std::vector<uint8_t> row_hit_;       // [rows]
};

}  // namespace nanomlp
