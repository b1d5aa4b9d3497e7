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

namespace {

// Rows per chunk of the softmax phase, at least.
constexpr int64_t kRowChunk = 8;

// A phase holds at most the chunks of two products and one more (a layer's backward pass).
int64_t max_chunks(int threads) { return 4 * kChunksPerThread * std::max(threads, 1) + 1; }

int checked_threads(int threads) {
  if (threads < 1)
    throw std::invalid_argument("threads must be >= 1, got " + std::to_string(threads));
  return threads;
}

}  // namespace

Network::Network(std::vector<int64_t> layer_sizes, int64_t batch_size, int threads)
    : sizes_(std::move(layer_sizes)),
      batch_(batch_size),
      kernels_(&select_kernels()),
      pool_(checked_threads(threads), static_cast<int>(std::max<size_t>(2, 2 * sizes_.size())),
            max_chunks(threads)) {
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
  for (size_t l = 0; l < sizes_.size(); ++l) {
    const int64_t s = sizes_[l];
    // The input is read in place, from the caller's rows.
    acts_.emplace_back(l == 0 ? 0 : static_cast<size_t>(rows_ * s));
    // Backward passes run on training batches only.
    deltas_.emplace_back(l == 0 ? 0 : static_cast<size_t>(batch_ * s));
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
  vw_.assign(sizes_.size() - 1, nullptr), vb_.assign(sizes_.size() - 1, nullptr);
  const size_t L = sizes_.size() - 1;
  forward_.resize(L), dx_.resize(L), dw_.resize(L);
  forward_chunks_.resize(L), dx_chunks_.resize(L), dw_chunks_.resize(L);
  phase_chunks_.resize(2 * L + 2);
  batch_labels_.resize(static_cast<size_t>(rows_));
  batch_rows_.resize(static_cast<size_t>(rows_));
  row_loss_.resize(static_cast<size_t>(rows_));
  row_hit_.resize(static_cast<size_t>(rows_));
}

void Network::use_params(float* params) {
  for (int64_t l = 0; l < layers(); ++l) {
    w_[l] = params + weight_offset(l);
    b_[l] = params + bias_offset(l);
    vw_[l] = vb_[l] = nullptr;
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

void Network::use_padded_copy(const float* params, const float* velocity) {
  copy_padded(padded_.data(), params, true);
  if (velocity) {
    // Sized on first use: plain SGD never pays for it.
    if (padded_velocity_.size() != padded_.size()) padded_velocity_.resize(padded_.size());
    copy_padded(padded_velocity_.data(), velocity, true);
  }
  for (int64_t l = 0; l < layers(); ++l) {
    w_[l] = padded_.data() + padded_w_[l];
    b_[l] = padded_.data() + padded_b_[l];
    vw_[l] = velocity ? padded_velocity_.data() + padded_w_[l] : nullptr;
    vb_[l] = velocity ? padded_velocity_.data() + padded_b_[l] : nullptr;
    ldw_[l] = padded_ld_[l];
  }
}

void Network::copy_back(float* params, float* velocity) const {
  copy_padded(params, padded_.data(), false);
  if (velocity) copy_padded(velocity, padded_velocity_.data(), false);
}

void Network::step(float* grads, const SgdOptions* update, const float* x, const int32_t* labels,
                   const int64_t* order, int64_t B, Metrics* metrics) {
  const int64_t L = layers();
  const int T = pool_.size();
  const bool backward = update || grads;
  const bool want_loss = metrics && labels;
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

  // The plan: phase 0 packs Wᵀ of the layers whose input gradient is needed (W stays as it is
  // until the updates at the end of the step); one phase per layer forward; softmax and
  // cross-entropy, fused with the logits' gradient; then per layer from the last, its input
  // gradient, its weight gradient (or update) and its bias gradient.
  int phases = 0;
  // Packing is light: a few chunks, each for every packs-th layer.
  const int64_t packs = backward ? std::min<int64_t>(L - 1, kChunksPerThread * T) : 0;
  phase_chunks_[phases++] = packs;
  for (int64_t l = 0; l < L; ++l) {
    GemmOp& op = forward_[l];
    op = GemmOp();
    op.M = B, op.N = sizes_[l + 1], op.K = sizes_[l];
    op.A = l == 0 ? x : acts_[l].data(), op.lda = op.K;
    if (l == 0) op.a_rows = input_rows;
    op.B = w_[l], op.ldb = ldw_[l];
    op.C = acts_[l + 1].data(), op.ldc = op.N;
    op.ep.bias = b_[l];
    op.ep.relu = l + 1 < L;
    forward_chunks_[l] = gemm_chunks(*kernels_, op, T);
    phase_chunks_[phases++] = forward_chunks_[l].count;
  }
  const int64_t softmax_rows =
      std::max(kRowChunk, (B + kChunksPerThread * T - 1) / (kChunksPerThread * T));
  phase_chunks_[phases++] = (B + softmax_rows - 1) / softmax_rows;
  if (backward)
    for (int64_t l = L - 1; l >= 0; --l) {
      const int64_t K = sizes_[l], N = sizes_[l + 1];
      const float* dz = deltas_[l + 1].data();
      dx_chunks_[l].count = 0;
      if (l > 0) {
        // dX = dZ·Wᵀ through the packed Wᵀ, times the ReLU's derivative (its output > 0). The
        // first layer's input gradient is never used.
        GemmOp& op = dx_[l];
        op = GemmOp();
        op.M = B, op.N = K, op.K = N;
        op.A = dz, op.lda = N;
        op.B = wt_[l].data(), op.ldb = K;
        op.C = deltas_[l].data(), op.ldc = K;
        op.ep.mask = acts_[l].data(), op.ep.ldm = K;
        dx_chunks_[l] = gemm_chunks(*kernels_, op, T);
      }
      // dW = Xᵀ·dZ, into grads or straight into W −= lr·dW: dX reads the packed copy of W.
      GemmOp& op = dw_[l];
      op = GemmOp();
      op.M = K, op.N = N, op.K = B;
      op.A = l == 0 ? x : acts_[l].data(), op.lda = K, op.trans_a = true;
      if (l == 0) op.a_rows = input_rows;
      op.B = dz, op.ldb = N;
      if (grads)
        op.C = grads + weight_offset(l), op.ldc = N;
      else
        op.C = w_[l], op.ldc = ldw_[l];
      if (update && !grads) {
        op.ep.sgd = true;
        op.ep.lr = update->lr;
        op.ep.weight_decay = update->weight_decay;
        op.ep.momentum = update->momentum;
        op.ep.nesterov = update->nesterov;
        op.ep.velocity = vw_[l];
        op.ep.ldv = ldw_[l];
      }
      dw_chunks_[l] = gemm_chunks(*kernels_, op, T);
      phase_chunks_[phases++] = dx_chunks_[l].count + dw_chunks_[l].count + 1;
    }

  auto work = [&](int phase, int64_t chunk) {
    if (phase == 0) {
      for (int64_t l = 1 + chunk; l < L; l += packs)
        transpose_rows(wt_[l].data(), w_[l], sizes_[l], sizes_[l + 1], ldw_[l], 0, sizes_[l + 1]);
      return;
    }
    if (phase <= L) {
      gemm_chunk(*kernels_, forward_[phase - 1], forward_chunks_[phase - 1], chunk);
      return;
    }
    if (phase == L + 1) {
      const int64_t r0 = chunk * softmax_rows, r1 = std::min(B, r0 + softmax_rows);
      float* probs = acts_[L].data() + r0 * C;
      softmax_xent_rows(probs, want_loss ? row_loss_.data() + r0 : nullptr,
                        want_loss ? row_hit_.data() + r0 : nullptr,
                        backward ? deltas_[L].data() + r0 * C : nullptr, probs,
                        labels ? batch_labels_.data() + r0 : nullptr, r1 - r0, C, B);
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
    float* db = grads ? grads + bias_offset(l) : db_.data();
    std::fill(db, db + N, 0.0f);
    for (int64_t i = 0; i < B; ++i)
      for (int64_t j = 0; j < N; ++j) db[j] += dz[i * N + j];
    if (!grads) {
      // No weight decay on biases.
      float* b = b_[l];
      float* vb = vb_[l];
      for (int64_t j = 0; j < N; ++j)
        b[j] = sgd_apply(b[j], db[j], vb ? vb + j : nullptr, update->lr, 0.0f, update->momentum,
                         update->nesterov);
    }
  };
  pool_.run(phases, phase_chunks_.data(), work);

  if (metrics) {
    // Summed in row order here, so the total does not depend on the thread count.
    if (want_loss)
      for (int64_t i = 0; i < B; ++i) {
        metrics->loss_sum += row_loss_[i];
        metrics->correct += row_hit_[i];
      }
    metrics->rows += B;
  }
}

double Network::gradients(float* grads, const float* params, const float* x, const int32_t* labels,
                          const int64_t* order, int64_t B) {
  if (B < 1 || B > batch_) throw std::invalid_argument("rows must be in [1, batch_size]");
  Metrics metrics;
  // Without an update the parameters are only read.
  use_params(const_cast<float*>(params));
  step(grads, nullptr, x, labels, order, B, &metrics);
  return metrics.loss_sum / static_cast<double>(B);
}

int64_t Network::train_epoch(float* params, float* velocity, const float* x, const int32_t* labels,
                             const int64_t* order, int64_t n_order, const SgdOptions& sgd,
                             const std::function<bool()>& should_stop) {
  if (sgd.momentum != 0.0f && !velocity)
    throw std::invalid_argument("momentum needs a velocity buffer");
  if (sgd.momentum == 0.0f) velocity = nullptr;
  use_padded_copy(params, velocity);
  int64_t steps = 0;
  for (int64_t start = 0; start < n_order; start += batch_) {
    if (should_stop && should_stop()) break;
    const int64_t B = std::min(batch_, n_order - start);
    step(nullptr, &sgd, x, labels, order + start, B, nullptr);
    ++steps;
  }
  copy_back(params, velocity);
  return steps;
}

Metrics Network::evaluate(const float* params, const float* x, const int32_t* labels, int64_t n,
                          float* probs, const std::function<bool()>& should_stop) {
  Metrics metrics;
  const int64_t C = sizes_.back();
  use_params(const_cast<float*>(params));
  for (int64_t start = 0; start < n; start += rows_) {
    if (should_stop && should_stop()) break;
    const int64_t B = std::min(rows_, n - start);
    step(nullptr, nullptr, x + start * sizes_[0], labels ? labels + start : nullptr, nullptr, B,
         &metrics);
    if (probs) std::memcpy(probs + start * C, acts_.back().data(), sizeof(float) * B * C);
  }
  return metrics;
}

}  // namespace nanomlp
