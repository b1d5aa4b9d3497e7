// The layers of an MLP as pairs of kernels, forward beside backward.
// Arguments: outputs first, then inputs, then sizes. Buffers are row-major float32.
#pragma once
#include <cstdint>

namespace nanomlp {

// Cross-entropy of a probability below this is capped, as the reference clips p to [1e-10, 1].
constexpr float kMinProbability = 1e-10f;

// out[B×N] = in[B×K] · W[K×N] + b[N]
void dense_forward(float* out, const float* in, const float* W, const float* b, int64_t B,
                   int64_t K, int64_t N);
// dW[K×N] = inᵀ·dout, db[N] = Σ_rows dout, din[B×K] = dout·Wᵀ (skipped when din is null)
void dense_backward(float* din, float* dW, float* db, const float* dout, const float* in,
                    const float* W, int64_t B, int64_t K, int64_t N);

// x[n] = max(0, x) in place
void relu_forward(float* x, int64_t n);
// dx[n] *= (out > 0): out is the ReLU output, positive exactly where its input was
void relu_backward(float* dx, const float* out, int64_t n);

// probs[B×C] = softmax(logits) (probs may alias logits); returns Σ_rows −log(max(p_label,
// kMinProbability)). labels may be null (no loss); correct, if not null, receives the count of
// argmax == label.
double softmax_xent_forward(float* probs, const float* logits, const int32_t* labels,
                            int64_t* correct, int64_t B, int64_t C);
// The two fused, row by row, for any slice of a batch: probs[B×C] = softmax(logits) (probs may
// be logits); when labels is not null, loss[i] = −log(max(p_label, kMinProbability)) and
// hit[i] = (argmax == label) where those are not null, and dlogits[B×C] = (probs − onehot) / scale
// when dlogits is not null.
void softmax_xent_rows(float* probs, double* loss, uint8_t* hit, float* dlogits,
                       const float* logits, const int32_t* labels, int64_t B, int64_t C,
                       int64_t scale);
// dlogits[B×C] = (probs − onehot(labels)) / scale, scale being the batch size
void softmax_xent_backward(float* dlogits, const float* probs, const int32_t* labels, int64_t B,
                           int64_t C, int64_t scale);

// params[n] −= lr · grads[n]
void sgd_update(float* params, const float* grads, float lr, int64_t n);

}  // namespace nanomlp
