// The instruction-set paths compiled in their own files. Each returns null when this build has
// no such path (another architecture, or a compiler without target attributes).
#pragma once
#include "nanomlp/gemm.h"

namespace nanomlp::detail {
const Kernels* avx512_kernels();
const Kernels* avx2_kernels();
}  // namespace nanomlp::detail
