#include "nanomlp/network.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>

#include "nanomlp/kernels.h"

namespace nanomlp {

// Inference runs in chunks this tall at least: large enough to amortise per-call overhead,
// small enough that the activations stay in cache.
constexpr int64_t kInferenceChunk = 256;

namespace {

// Rows per chunk of the softmax phase, at least.
constexpr int64_t kRowChunk = 8;

// A phase holds at most the chunks of two products and one more (a layer's backward pass).
int64_t max_chunks(int threads) {
  return 4 * std::max(kChunksPerThread * std::max(threads, 1), kMaxProductChunks) + 1;
}

// A step of fewer flops than this (tens of microseconds: a one-row prediction, a few rows'
// step) runs on the calling thread alone, planned as for one thread: handing it to the
// workers would cost more than it saves.
constexpr int64_t kSharedStepFlops = int64_t{1} << 22;
// A step of this many flops or more is looked at for Ctrl-C between its chunks, not only
// between steps.
constexpr int64_t kPollStepFlops = int64_t{1} << 28;
// A training step of this many flops or more (about a tenth of a second) writes its gradients
// to a buffer and updates the parameters last, in a short phase of its own: an interrupted
// step can then be abandoned until that phase begins. Below it, the update is fused into the
// weight-gradient products, which is faster.
constexpr int64_t kLargeStepFlops = int64_t{1} << 33;

int checked_threads(int threads) {
  if (threads < 1)
    throw std::invalid_argument("threads must be >= 1, got " + std::to_string(threads));
  return threads;
}

}  // namespace

Network::Network(std::vector<int64_t> layer_sizes, int64_t batch_size, int threads,
                 std::vector<Activation> activations, float negative_slope, double label_smoothing,
                 Loss loss, double delta)
    : sizes_(std::move(layer_sizes)),
      batch_(batch_size),
      kernels_(&select_kernels()),
      // Phases: packing, one per layer forward, softmax, one per layer backward, and with
      // clip_norm the norm and the update.
      pool_(checked_threads(threads), static_cast<int>(2 * sizes_.size() + 2), max_chunks(threads)),
      poll_flops_(kPollStepFlops),
      unfused_flops_(kLargeStepFlops) {
  if (sizes_.size() < 2) throw std::invalid_argument("layer_sizes needs at least two entries");
  for (int64_t s : sizes_)
    if (s < 1) throw std::invalid_argument("every layer size must be >= 1");
  if (batch_ < 1) throw std::invalid_argument("batch_size must be >= 1");
  const size_t hidden = sizes_.size() - 2;
  if (activations.empty()) activations.assign(hidden, Activation::kRelu);
  if (activations.size() != hidden)
    throw std::invalid_argument("activations must hold one per hidden layer (" +
                                std::to_string(hidden) + "), got " +
                                std::to_string(activations.size()));
  if (!std::isfinite(negative_slope)) throw std::invalid_argument("negative_slope must be finite");
  // Indexed by layer: act_[l] is the activation of acts_[l]; none for the input and output.
  act_.assign(sizes_.size(), Activation::kIdentity);
  std::copy(activations.begin(), activations.end(), act_.begin() + 1);
  slope_ = negative_slope;
  // Written so that NaN fails too.
  if (!(label_smoothing >= 0.0 && label_smoothing <= 1.0))
    throw std::invalid_argument("label_smoothing must be in [0, 1]");
  smoothing_ = label_smoothing;
  if (!(delta > 0.0 && std::isfinite(delta)))
    throw std::invalid_argument("delta must be finite and > 0");
  loss_ = loss, delta_ = delta;
  rows_ = std::max(batch_, kInferenceChunk);
  int64_t offset = 0, widest = 0;
  for (size_t l = 0; l + 1 < sizes_.size(); ++l) {
    offsets_.push_back(offset);
    offset += sizes_[l] * sizes_[l + 1] + sizes_[l + 1];
  }
  offsets_.push_back(offset);
  for (size_t l = 0; l < sizes_.size(); ++l) {
    const int64_t s = sizes_[l];
    // The input is read in place, from the caller's rows.
    acts_.emplace_back(l == 0 ? 0 : static_cast<size_t>(rows_ * s));
    // Backward passes run on training batches only.
    deltas_.emplace_back(l == 0 ? 0 : static_cast<size_t>(batch_ * s));
    saved_.emplace_back(saves(static_cast<int64_t>(l), false) ? static_cast<size_t>(batch_ * s)
                                                              : 0);
    wt_.emplace_back(l == 0 || l + 1 == sizes_.size() ? 0 : static_cast<size_t>(s * sizes_[l + 1]));
    widest = std::max(widest, s);
  }
  db_.resize(static_cast<size_t>(widest));
  int64_t padded = 0;
  constexpr int64_t kLine = 64 / sizeof(float);
  for (size_t l = 0; l + 1 < sizes_.size(); ++l) {
    const int64_t ld = (sizes_[l + 1] + kLine - 1) / kLine * kLine;
    padded_ld_.push_back(ld);
    padded_w_.push_back(padded);
    padded += sizes_[l] * ld;
    padded_b_.push_back(padded);
    padded += ld;
  }
  padded_.resize(static_cast<size_t>(padded));
  w_.resize(sizes_.size() - 1), b_.resize(sizes_.size() - 1), ldw_.resize(sizes_.size() - 1);
  const size_t L = sizes_.size() - 1;
  for (int k = 0; k < 3; ++k) sw_[k].assign(L, nullptr), sb_[k].assign(L, nullptr);
  drop_.resize(L), drop_rate_.assign(L, 0.0f), drop_scale_.assign(L, 1.0f);
  forward_.resize(L), dx_.resize(L), dw_.resize(L);
  forward_chunks_.resize(L), dx_chunks_.resize(L), dw_chunks_.resize(L);
  phase_chunks_.resize(2 * L + 4);
  batch_labels_.resize(static_cast<size_t>(rows_));
  batch_targets_.resize(static_cast<size_t>(rows_));
  batch_rows_.resize(static_cast<size_t>(rows_));
  row_loss_.resize(static_cast<size_t>(rows_));
  row_hit_.resize(static_cast<size_t>(rows_));
  batch_weight_.resize(static_cast<size_t>(rows_));
}

void Network::set_large_step(int64_t poll_flops, int64_t unfused_flops) {
  poll_flops_ = poll_flops, unfused_flops_ = unfused_flops;
}

bool Network::saves(int64_t l, bool dropout) const {
  if (l < 1 || l >= layers()) return false;
  switch (act_[l]) {
    case Activation::kIdentity:
    case Activation::kRelu: return false;
    case Activation::kTanh:
    case Activation::kSigmoid: return dropout && drop_rate_[l] > 0.0f;
    default: return true;  // takes z
  }
}

void Network::use_params(float* params) {
  for (int64_t l = 0; l < layers(); ++l) {
    w_[l] = params + weight_offset(l);
    b_[l] = params + bias_offset(l);
    for (int k = 0; k < 3; ++k) sw_[k][l] = sb_[k][l] = nullptr;
    ldw_[l] = sizes_[l + 1];
  }
}

void Network::copy_padded(float* dst, const float* src, bool to_padded) const {
  for (int64_t l = 0; l < layers(); ++l) {
    const int64_t K = sizes_[l], N = sizes_[l + 1];
    for (int64_t k = 0; k <= K; ++k) {  // K rows of weights, then the bias row
      const int64_t flat = (k < K ? weight_offset(l) + k * N : bias_offset(l));
      const int64_t padded = (k < K ? padded_w_[l] + k * padded_ld_[l] : padded_b_[l]);
      if (to_padded)
        std::memcpy(dst + padded, src + flat, sizeof(float) * N);
      else
        std::memcpy(dst + flat, src + padded, sizeof(float) * N);
    }
  }
}

void Network::use_padded_copy(const float* params, float* const* state) {
  copy_padded(padded_.data(), params, true);
  for (int k = 0; k < 3; ++k) {
    // Sized on first use: an optimizer pays only for the state it has.
    if (state[k] && padded_state_[k].size() != padded_.size())
      padded_state_[k].resize(padded_.size());
    if (state[k]) copy_padded(padded_state_[k].data(), state[k], true);
  }
  for (int64_t l = 0; l < layers(); ++l) {
    w_[l] = padded_.data() + padded_w_[l];
    b_[l] = padded_.data() + padded_b_[l];
    for (int k = 0; k < 3; ++k) {
      sw_[k][l] = state[k] ? padded_state_[k].data() + padded_w_[l] : nullptr;
      sb_[k][l] = state[k] ? padded_state_[k].data() + padded_b_[l] : nullptr;
    }
    ldw_[l] = padded_ld_[l];
  }
}

void Network::copy_back(float* params, float* const* state) const {
  copy_padded(params, padded_.data(), false);
  for (int k = 0; k < 3; ++k)
    if (state[k]) copy_padded(state[k], padded_state_[k].data(), false);
}

int64_t Network::forward_flops(int64_t B) const {
  int64_t flops = 0;
  for (int64_t l = 0; l < layers(); ++l) flops += 2 * B * sizes_[l] * sizes_[l + 1];
  return flops;
}

bool Network::step(float* grads, bool update, const float* x, const int32_t* labels,
                   const float* targets, const int64_t* order, int64_t B, Metrics* metrics) {
  const int64_t L = layers();
  const bool backward = update || grads;
  const int64_t flops = forward_flops(B) * (backward ? 3 : 1);
  const int T = flops < kSharedStepFlops ? 1 : pool_.size();
  const bool has_targets = labels || targets;
  const bool want_loss = metrics && has_targets;
  const bool unfused = update && unfused_;  // gradients first, then the update
  const bool dropout = update && dropout_;
  const int64_t C = sizes_[L];
  // The batch is read in place through pointers to its rows: nothing is copied.
  const int64_t in = sizes_[0];
  const float* const* input_rows = nullptr;
  if (order) {
    for (int64_t i = 0; i < B; ++i) batch_rows_[i] = x + order[i] * in;
    input_rows = batch_rows_.data();
  }
  if (labels)
    for (int64_t i = 0; i < B; ++i) batch_labels_[i] = labels[order ? order[i] : i];
  if (targets)
    for (int64_t i = 0; i < B; ++i) batch_targets_[i] = targets + (order ? order[i] : i) * C;
  // Where the weight and bias gradients go: the caller's buffer, the clip_norm buffer, or
  // nowhere (fused into the update).
  float* grad_out = grads ? grads : unfused ? grads_.data() : nullptr;

  // The plan: phase 0 packs Wᵀ of the layers whose input gradient is needed (W stays as it is
  // until the updates at the end of the step) and draws the dropout masks; one phase per layer
  // forward; softmax and cross-entropy, fused with the logits' gradient; then per layer from
  // the last, its input gradient, its weight gradient (or update) and its bias gradient; with
  // clip_norm, the norm, then the update.
  int phases = 0;
  // Packing is light: a chunk per thread, each a share of every layer's columns, so that the
  // threads finish it together (a chunk per layer would leave the others waiting on the widest).
  const int64_t packs = backward && L > 1 ? T : 0;
  const int64_t row_chunk =
      std::max(kRowChunk, (B + kChunksPerThread * T - 1) / (kChunksPerThread * T));
  const int64_t row_chunks = (B + row_chunk - 1) / row_chunk;
  const int64_t mask_chunks = dropout ? row_chunks : 0;
  phase_chunks_[phases++] = packs + mask_chunks;
  for (int64_t l = 0; l < L; ++l) {
    GemmOp& op = forward_[l];
    op = GemmOp();
    op.M = B, op.N = sizes_[l + 1], op.K = sizes_[l];
    op.A = l == 0 ? x : acts_[l].data(), op.lda = op.K;
    if (l == 0) op.a_rows = input_rows;
    op.B = w_[l], op.ldb = ldw_[l];
    op.C = acts_[l + 1].data(), op.ldc = op.N;
    op.ep.bias = b_[l];
    op.ep.act = act_[l + 1];
    op.ep.slope = slope_;
    if (backward && saves(l + 1, dropout)) op.ep.save = saved_[l + 1].data(), op.ep.ldv = op.N;
    // Dropout after the activation, as Linear → activation → Dropout.
    if (dropout && l + 1 < L && drop_rate_[l + 1] > 0.0f)
      op.ep.scale = drop_[l + 1].data(), op.ep.lds = op.N;
    forward_chunks_[l] = gemm_chunks(*kernels_, op, T);
    phase_chunks_[phases++] = forward_chunks_[l].count;
  }
  phase_chunks_[phases++] = row_chunks;
  if (backward)
    for (int64_t l = L - 1; l >= 0; --l) {
      const int64_t K = sizes_[l], N = sizes_[l + 1];
      const float* dz = deltas_[l + 1].data();
      dx_chunks_[l].count = 0;
      if (l > 0) {
        // dX = dZ·Wᵀ through the packed Wᵀ, times the dropout mask, then through the
        // activation's derivative. The first layer's input gradient is never used.
        GemmOp& op = dx_[l];
        op = GemmOp();
        op.M = B, op.N = K, op.K = N;
        op.A = dz, op.lda = N;
        op.B = wt_[l].data(), op.ldb = K;
        op.C = deltas_[l].data(), op.ldc = K;
        if (dropout && drop_rate_[l] > 0.0f) op.ep.scale = drop_[l].data(), op.ep.lds = K;
        op.ep.derivative = act_[l];
        op.ep.slope = slope_;
        if (act_[l] != Activation::kIdentity) {
          op.ep.saved = saves(l, dropout) ? saved_[l].data() : acts_[l].data();
          op.ep.ldsv = K;
        }
        dx_chunks_[l] = gemm_chunks(*kernels_, op, T);
      }
      // dW = Xᵀ·dZ, into a gradient buffer or straight into the update of W: dX reads the
      // packed copy of W.
      GemmOp& op = dw_[l];
      op = GemmOp();
      op.M = K, op.N = N, op.K = B;
      op.A = l == 0 ? x : acts_[l].data(), op.lda = K, op.trans_a = true;
      if (l == 0) op.a_rows = input_rows;
      op.B = dz, op.ldb = N;
      if (grad_out) {
        op.C = grad_out + weight_offset(l), op.ldc = N;
      } else {
        op.C = w_[l], op.ldc = ldw_[l];
        op.ep.update = &rule_w_;
        for (int k = 0; k < 3; ++k) op.ep.state[k] = sw_[k][l];
        op.ep.ldu = ldw_[l];
      }
      dw_chunks_[l] = gemm_chunks(*kernels_, op, T);
      phase_chunks_[phases++] = dx_chunks_[l].count + dw_chunks_[l].count + 1;
    }
  const int64_t update_chunks = T == 1 ? 1 : kChunksPerThread * T;
  int norm_phase = -1, update_phase = -1;
  if (unfused) {
    if (clip_norm_ > 0.0) {
      norm_phase = phases;
      phase_chunks_[phases++] = 1;
    }
    update_phase = phases;
    phase_chunks_[phases++] = update_chunks;
  }
  // Until the first phase that writes the parameters, the step may be abandoned: the calling
  // thread looks at should_stop between its chunks, and once it says stop every thread skips
  // the chunks left. A phase that writes the parameters always runs to its end.
  const int first_write = !update ? phases : unfused ? update_phase : static_cast<int>(L) + 2;
  const bool poll = poll_ && *poll_ && flops >= poll_flops_;
  const std::thread::id caller = std::this_thread::get_id();
  std::atomic<bool> abandon{false};

  auto work = [&](int phase, int64_t chunk) {
    // Relaxed suffices: the pool orders each phase after the chunks of the one before.
    if (abandon.load(std::memory_order_relaxed)) return;
    if (poll && phase < first_write && std::this_thread::get_id() == caller && (*poll_)()) {
      abandon.store(true, std::memory_order_relaxed);
      return;
    }
    if (phase == 0) {
      if (chunk < packs) {
        for (int64_t l = 1; l < L; ++l) {
          const int64_t N = sizes_[l + 1];
          transpose_rows(wt_[l].data(), w_[l], sizes_[l], N, ldw_[l], N * chunk / packs,
                         N * (chunk + 1) / packs);
        }
        return;
      }
      // The masks of rows [r0, r1): each entry a function of (seed, layer, step, dataset row,
      // unit) only, so neither the chunking nor the thread count matters.
      const int64_t r0 = (chunk - packs) * row_chunk, r1 = std::min(B, r0 + row_chunk);
      for (int64_t l = 1; l < L; ++l) {
        if (drop_rate_[l] <= 0.0f) continue;
        const int64_t N = sizes_[l];
        for (int64_t i = r0; i < r1; ++i) {
          const uint64_t row = static_cast<uint64_t>(order ? order[i] : i);
          const uint64_t key =
              dropout_row_key(drop_seed_, static_cast<uint64_t>(l - 1), drop_step_, row);
          dropout_row(drop_[l].data() + i * N, key, N, drop_rate_[l], drop_scale_[l]);
        }
      }
      return;
    }
    if (phase <= L) {
      gemm_chunk(*kernels_, forward_[phase - 1], forward_chunks_[phase - 1], chunk);
      return;
    }
    if (phase == L + 1) {
      const int64_t r0 = chunk * row_chunk, r1 = std::min(B, r0 + row_chunk);
      float* probs = acts_[L].data() + r0 * C;
      const bool weighted = update && weighted_;
      const float divisor = weighted ? weight_total_ : static_cast<float>(B);
      const float* w = weighted ? batch_weight_.data() + r0 : nullptr;
      double* loss = want_loss ? row_loss_.data() + r0 : nullptr;
      uint8_t* hit = want_loss ? row_hit_.data() + r0 : nullptr;
      float* d = backward ? deltas_[L].data() + r0 * C : nullptr;
      const float* const* y = targets ? batch_targets_.data() + r0 : nullptr;
      switch (loss_) {
        case Loss::kCrossEntropy:
          softmax_xent_rows(probs, loss, hit, d, probs,
                            labels ? batch_labels_.data() + r0 : nullptr, r1 - r0, C, divisor, w,
                            smoothing_);
          break;
        case Loss::kBinaryCrossEntropy:
          sigmoid_bce_rows(probs, loss, hit, d, probs, y, r1 - r0, C, divisor, w);
          break;
        case Loss::kMse:
        case Loss::kHuber:
          if (y) regression_rows(loss, d, probs, y, r1 - r0, C, divisor, w, loss_, delta_);
          if (hit)
            for (int64_t i = r0; i < r1; ++i) row_hit_[i] = 0;
          break;
      }
      return;
    }
    if (phase == norm_phase) {
      clip_and_norm();
      return;
    }
    if (phase == update_phase) {
      update_from_grads(chunk, update_chunks);
      return;
    }
    const int64_t l = L - 1 - (phase - (L + 2));
    if (chunk < dx_chunks_[l].count) {
      gemm_chunk(*kernels_, dx_[l], dx_chunks_[l], chunk);
      return;
    }
    chunk -= dx_chunks_[l].count;
    if (chunk < dw_chunks_[l].count) {
      gemm_chunk(*kernels_, dw_[l], dw_chunks_[l], chunk);
      return;
    }
    // db = Σ_rows dZ, row after row.
    const int64_t N = sizes_[l + 1];
    const float* dz = deltas_[l + 1].data();
    float* db = grad_out ? grad_out + bias_offset(l) : db_.data();
    std::fill(db, db + N, 0.0f);
    for (int64_t i = 0; i < B; ++i)
      for (int64_t j = 0; j < N; ++j) db[j] += dz[i * N + j];
    if (!grad_out) {
      // The biases' rule: no weight decay.
      float* b = b_[l];
      for (int64_t j = 0; j < N; ++j) {
        float st[3] = {0.0f, 0.0f, 0.0f};
        for (int k = 0; k < 3; ++k)
          if (sb_[k][l]) st[k] = sb_[k][l][j];
        b[j] = apply_update(rule_b_, b[j], db[j], st);
        for (int k = 0; k < 3; ++k)
          if (sb_[k][l]) sb_[k][l][j] = st[k];
      }
    }
  };
  if (T == 1)
    ThreadPool::run_here(phases, phase_chunks_.data(), work);
  else
    pool_.run(phases, phase_chunks_.data(), work);
  if (abandon.load()) return false;

  if (metrics) {
    // Summed in row order here, so the total does not depend on the thread count.
    if (want_loss)
      for (int64_t i = 0; i < B; ++i) {
        const double weight = update && weighted_ ? static_cast<double>(batch_weight_[i]) : 1.0;
        metrics->loss_sum += weight * row_loss_[i];
        metrics->weight_sum += weight;
        metrics->correct += row_hit_[i];
      }
    metrics->rows += B;
  }
  return true;
}

void Network::clip_and_norm() {
  // grads_ is in the flat layout, so its index is the entry's rank in the norm's order.
  float* g = grads_.data();
  const int64_t n = num_params();
  if (clip_value_ != 0.0f)
    for (int64_t i = 0; i < n; ++i)
      g[i] = ScalarOps::min(clip_value_, ScalarOps::max(-clip_value_, g[i]));
  double lanes[kNormLanes] = {};
  accumulate_squares(lanes, g, n, 0);
  const float coef = clip_coefficient(lanes_norm(lanes), clip_norm_);
  // As torch, always multiplied, by 1 too: a NaN norm spreads.
  for (int64_t i = 0; i < n; ++i) g[i] = g[i] * coef;
}

void Network::update_from_grads(int64_t chunk, int64_t chunks) {
  // Each layer's K weight rows and its bias row, cut into `chunks` shares of rows.
  for (int64_t l = 0; l < layers(); ++l) {
    const int64_t K = sizes_[l], N = sizes_[l + 1];
    const int64_t k0 = (K + 1) * chunk / chunks, k1 = (K + 1) * (chunk + 1) / chunks;
    for (int64_t k = k0; k < k1; ++k) {
      const bool weights = k < K;
      const UpdateRule& rule = weights ? rule_w_ : rule_b_;
      const float* g = grads_.data() + (weights ? weight_offset(l) + k * N : bias_offset(l));
      float* p = weights ? w_[l] + k * ldw_[l] : b_[l];
      float* st[3];
      for (int s = 0; s < 3; ++s) {
        float* base = weights ? sw_[s][l] : sb_[s][l];
        st[s] = base ? base + (weights ? k * ldw_[l] : 0) : nullptr;
      }
      for (int64_t j = 0; j < N; ++j) {
        float v[3] = {0.0f, 0.0f, 0.0f};
        for (int s = 0; s < 3; ++s)
          if (st[s]) v[s] = st[s][j];
        p[j] = apply_update(rule, p[j], g[j], v);
        for (int s = 0; s < 3; ++s)
          if (st[s]) st[s][j] = v[s];
      }
    }
  }
}

void Network::check_targets(bool labels, bool targets) const {
  if (labels && loss_ != Loss::kCrossEntropy)
    throw std::invalid_argument(
        "int32 labels are cross-entropy's targets; this loss reads float32 "
        "target rows");
  if (targets && loss_ == Loss::kCrossEntropy)
    throw std::invalid_argument("cross-entropy reads int32 labels, not float32 targets");
}

double Network::gradients(float* grads, const float* params, const float* x, const int32_t* labels,
                          const int64_t* order, int64_t B) {
  check_targets(labels != nullptr, false);
  return run_gradients(grads, params, x, labels, nullptr, order, B);
}

double Network::gradients(float* grads, const float* params, const float* x, const float* targets,
                          const int64_t* order, int64_t B) {
  check_targets(false, targets != nullptr);
  return run_gradients(grads, params, x, nullptr, targets, order, B);
}

double Network::run_gradients(float* grads, const float* params, const float* x,
                              const int32_t* labels, const float* targets, const int64_t* order,
                              int64_t B) {
  if (!labels && !targets) throw std::invalid_argument("gradients need targets");
  if (B < 1 || B > batch_) throw std::invalid_argument("rows must be in [1, batch_size]");
  Metrics metrics;
  // Without an update the parameters are only read.
  use_params(const_cast<float*>(params));
  step(grads, false, x, labels, targets, order, B, &metrics);
  return metrics.loss_sum / static_cast<double>(B);
}

void Network::state_slots(const OptimizerConfig& c, bool used[3]) {
  switch (c.kind) {
    case OptimizerKind::kSgd: used[0] = c.momentum != 0.0, used[1] = used[2] = false; break;
    case OptimizerKind::kAdam: used[0] = used[1] = true, used[2] = c.amsgrad; break;
    case OptimizerKind::kRmsprop:
      used[0] = true, used[1] = c.momentum != 0.0, used[2] = c.centered;
      break;
  }
}

int64_t Network::train_epoch(float* params, float* velocity, const float* x, const int32_t* labels,
                             const int64_t* order, int64_t n_order, const SgdOptions& sgd,
                             const std::function<bool()>& should_stop) {
  if (sgd.momentum != 0.0f && !velocity)
    throw std::invalid_argument("momentum needs a velocity buffer");
  OptimizerConfig c;
  c.momentum = sgd.momentum;
  c.nesterov = sgd.nesterov;
  c.weight_decay = sgd.weight_decay;
  EpochOptions e;
  e.constant_lr = sgd.lr;  // a float: the double rounds back to it exactly
  e.clone_first = false;
  float* state[3] = {velocity, nullptr, nullptr};
  return train_epoch(params, state, x, labels, order, n_order, c, e, should_stop);
}

int64_t Network::train_epoch(float* params, float* const* state, const float* x,
                             const int32_t* labels, const int64_t* order, int64_t n_order,
                             const OptimizerConfig& optimizer, const EpochOptions& options,
                             const std::function<bool()>& should_stop) {
  check_targets(true, false);
  return run_epoch(params, state, x, labels, nullptr, order, n_order, optimizer, options,
                   should_stop);
}

int64_t Network::train_epoch(float* params, float* const* state, const float* x,
                             const float* targets, const int64_t* order, int64_t n_order,
                             const OptimizerConfig& optimizer, const EpochOptions& options,
                             const std::function<bool()>& should_stop) {
  check_targets(false, true);
  return run_epoch(params, state, x, nullptr, targets, order, n_order, optimizer, options,
                   should_stop);
}

int64_t Network::run_epoch(float* params, float* const* state, const float* x,
                           const int32_t* labels, const float* targets, const int64_t* order,
                           int64_t n_order, const OptimizerConfig& optimizer,
                           const EpochOptions& options, const std::function<bool()>& should_stop) {
  bool used[3];
  state_slots(optimizer, used);
  float* slots[3];
  for (int k = 0; k < 3; ++k) {
    if (used[k] && !state[k])
      throw std::invalid_argument("the optimizer needs its state array " + std::to_string(k));
    slots[k] = used[k] ? state[k] : nullptr;
  }
  const int64_t L = layers();
  dropout_ = false;
  for (int64_t l = 1; l < L; ++l) {
    const double p = options.dropout ? options.dropout[l - 1] : 0.0;
    // As dropout.dropout_mask: p compared in float32; the scale 1 / (1 − p), 1 − p in double.
    drop_rate_[l] = p > 0.0 ? static_cast<float>(p) : 0.0f;
    drop_scale_[l] = 1.0f / static_cast<float>(1.0 - p);
    if (drop_rate_[l] > 0.0f) {
      dropout_ = true;
      if (drop_[l].empty()) drop_[l].resize(static_cast<size_t>(batch_ * sizes_[l]));
      if (saves(l, true) && saved_[l].empty())
        saved_[l].resize(static_cast<size_t>(batch_ * sizes_[l]));
    }
  }
  drop_seed_ = options.dropout_seed;
  clip_norm_ = options.clip_norm;
  clip_value_ = clip_norm_ > 0.0 ? static_cast<float>(options.clip_value) : 0.0f;
  unfused_ = clip_norm_ > 0.0 || 3 * forward_flops(batch_) >= unfused_flops_;
  if (unfused_ && grads_.empty()) grads_.resize(static_cast<size_t>(num_params()));
  weighted_ = options.sample_weight != nullptr;
  use_padded_copy(params, slots);
  poll_ = &should_stop;
  int64_t steps = 0;
  for (int64_t start = 0; start < n_order; start += batch_) {
    if (should_stop && should_stop()) break;
    const int64_t B = std::min(batch_, n_order - start);
    const double lr = options.lr ? options.lr[steps] : options.constant_lr;
    const int64_t t = options.step + steps + 1;
    // With clip_norm, clip_value is applied before the norm, not in the rule.
    const double clip = clip_norm_ > 0.0 ? 0.0 : options.clip_value;
    rule_w_ = make_rule(optimizer, lr, t, true, clip);
    rule_b_ = make_rule(optimizer, lr, t, false, clip);
    if (!options.clone_first) rule_w_.first = rule_b_.first = false;
    drop_step_ = options.first_step + static_cast<uint64_t>(steps);
    if (weighted_) {
      // Σ w in double, in row order, rounded once: reference.weight_sum.
      double total = 0.0;
      for (int64_t i = 0; i < B; ++i) {
        batch_weight_[i] = options.sample_weight[order[start + i]];
        total += static_cast<double>(batch_weight_[i]);
      }
      weight_total_ = static_cast<float>(total);
    }
    if (!step(nullptr, true, x, labels, targets, order + start, B, options.metrics)) break;
    ++steps;
  }
  poll_ = nullptr;
  copy_back(params, slots);
  return steps;
}

Metrics Network::evaluate(const float* params, const float* x, const int32_t* labels, int64_t n,
                          float* probs, const std::function<bool()>& should_stop) {
  check_targets(labels != nullptr, false);
  return run_evaluate(params, x, labels, nullptr, n, probs, should_stop);
}

Metrics Network::evaluate(const float* params, const float* x, const float* targets, int64_t n,
                          float* outputs, const std::function<bool()>& should_stop) {
  check_targets(false, targets != nullptr);
  return run_evaluate(params, x, nullptr, targets, n, outputs, should_stop);
}

Metrics Network::run_evaluate(const float* params, const float* x, const int32_t* labels,
                              const float* targets, int64_t n, float* probs,
                              const std::function<bool()>& should_stop) {
  Metrics metrics;
  const int64_t C = sizes_.back();
  use_params(const_cast<float*>(params));
  poll_ = &should_stop;
  for (int64_t start = 0; start < n; start += rows_) {
    if (should_stop && should_stop()) break;
    const int64_t B = std::min(rows_, n - start);
    if (!step(nullptr, false, x + start * sizes_[0], labels ? labels + start : nullptr,
              targets ? targets + start * C : nullptr, nullptr, B, &metrics))
      break;
    if (probs) std::memcpy(probs + start * C, acts_.back().data(), sizeof(float) * B * C);
  }
  poll_ = nullptr;
  return metrics;
}

}  // namespace nanomlp
