// The output layer: its activation and loss, fused with the logits' gradient.
// Arguments: outputs first, then inputs, then sizes. Buffers are row-major float32.
#pragma once
#include <cstdint>

namespace nanomlp {

// The output layer's loss, and so its activation and its targets: softmax cross-entropy over
// int32 labels; sigmoid binary cross-entropy, mean squared error and Huber (identity output)
// over float32 target rows of the output width.
enum class Loss { kCrossEntropy, kBinaryCrossEntropy, kMse, kHuber };

// Cross-entropy of a probability below this is capped, as the reference clips p to [1e-10, 1].
constexpr float kMinProbability = 1e-10f;

// Row by row, for any slice of a batch: probs[B×C] = softmax(logits) (probs may be logits);
// when labels is not null, loss[i] = −log(max(p_label, kMinProbability)) and
// hit[i] = (argmax == label) where those are not null, and, when dlogits is not null,
// dlogits[B×C] = (probs − onehot) / divisor (the batch size: the gradient of the mean loss), or
// with row weights w[B], ((probs − onehot)·w[i]) / divisor (Σ w: the weighted mean), all zero
// when that divisor is 0 (a batch whose weights are all 0), as reference.backward.
// smoothing ε > 0: PyTorch's label smoothing, the target (1 − ε)·onehot + ε/C in place of the
// one-hot (each entry rounded once from double to float32) and loss (1 − ε)·l_label + ε/C·Σ_j l_j,
// every l_j = −log(max(p_j, kMinProbability)).
void softmax_xent_rows(float* probs, double* loss, uint8_t* hit, float* dlogits,
                       const float* logits, const int32_t* labels, int64_t B, int64_t C,
                       float divisor, const float* weights = nullptr, double smoothing = 0.0);

// Row by row: probs[B×C] = σ(logits) (probs may be logits); when targets (row pointers, each
// C values in {0, 1}) is not null, loss[i] = the mean over the row of
// max(z, 0) − z·y + log1p(exp(−|z|)) (PyTorch's BCEWithLogitsLoss, in double), hit[i] = every
// (p ≥ 0.5) equals its y, and dlogits = (p − y) / (divisor·C), or ((p − y)·w[i]) / (divisor·C),
// zero when a weighted divisor is 0.
void sigmoid_bce_rows(float* probs, double* loss, uint8_t* hit, float* dlogits, const float* logits,
                      const float* const* targets, int64_t B, int64_t C, float divisor,
                      const float* weights = nullptr);

// Row by row, the identity output z against target rows y (r = z − y in float32): loss[i] =
// the row's mean of r² (kMse) or of Huber's 0.5·r² where |r| ≤ delta, else
// delta·(|r| − 0.5·delta) (kHuber), in double; dlogits = g / (divisor·C) or (g·w[i]) /
// (divisor·C), g = 2·r (kMse) or r clamped to [−delta, delta] (kHuber, delta in float32).
void regression_rows(double* loss, float* dlogits, const float* outputs,
                     const float* const* targets, int64_t B, int64_t C, float divisor,
                     const float* weights, Loss kind, double delta);

}  // namespace nanomlp
