// The instruction-set paths compiled in their own files. Each returns null when this build has
// no such path (another architecture, or a compiler without target attributes).
#pragma once
#include "nanomlp/gemm.h"

namespace nanomlp::detail {
const Kernels* avx512_kernels();
const Kernels* avx2_kernels();
const Kernels* neon_kernels();
// The generic path's activations: the scalar rules in a plain loop (activations.cpp).
void generic_activation_forward(Activation act, float slope, const float* z, float* a, int64_t n);
void generic_activation_backward(Activation act, float slope, const float* g, const float* saved,
                                 float* dz, int64_t n);
}  // namespace nanomlp::detail
