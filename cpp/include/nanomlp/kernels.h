// The output layer: softmax and cross-entropy, fused with the logits' gradient.
// Arguments: outputs first, then inputs, then sizes. Buffers are row-major float32.
#pragma once
#include <cstdint>

namespace nanomlp {

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

}  // namespace nanomlp
