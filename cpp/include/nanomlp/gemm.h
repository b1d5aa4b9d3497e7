// Matrix products over row-major float32 buffers with explicit leading dimensions, cut into
// rectangles for the thread pool. A dense layer needs three: forward Z = X·W, weight gradient
// dW = Xᵀ·dZ (op(A) = Aᵀ) and input gradient dX = dZ·Wᵀ (through a packed Wᵀ, as the forward).
//
// Reproducibility contract of the fast kernels: every output element is one sequential
// reduction over k = 0, 1, …, K−1 with a fused multiply-add, started from zero, whatever the
// instruction set, the tile it falls in or the thread that computes it. The AVX-512, AVX2 and
// NEON paths therefore agree bit for bit. The generic path does the same with std::fma where the
// target has hardware FMA (FP_FAST_FMAF, e.g. Arm), and with a multiply then an add otherwise
// (baseline x86-64), which matches the unfused reference kernels bit for bit instead.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "nanomlp/activations.h"
#include "nanomlp/optim.h"

namespace nanomlp {

// The naive triple loops: the definition the fast kernels are tested against. Each element is
// one sum over k in order, started from zero: with fused, one fused multiply-add per term (the
// fast kernels' contract); without, a multiply then an add.
namespace reference {
// C[M×N] = A[M×K] · B[K×N]                (forward: Z = X·W)
void gemm_nn(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
             int64_t ldb, float* C, int64_t ldc, bool fused = false);
// C[M×N] = A[K×M]ᵀ · B[K×N]               (weight gradient: dW = Xᵀ·dZ)
void gemm_tn(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
             int64_t ldb, float* C, int64_t ldc, bool fused = false);
// C[M×N] = A[M×K] · B[N×K]ᵀ               (input gradient: dX = dZ·Wᵀ)
void gemm_nt(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
             int64_t ldb, float* C, int64_t ldc, bool fused = false);
}  // namespace reference

// What happens to a finished element c (its whole sum over k), in this order:
// c += bias[j]; c = act(c) (a hidden layer's activation; save[i, j] receives what its
// derivative takes, below); c = c·scale[i, j] (dropout); c = derivative'(c) at saved[i, j]
// (the backward of a hidden layer's activation); then C[i, j] = c, or, with an update rule,
// C[i, j] = apply_update(C[i, j], c, state[·][i, j]): c is the gradient of the parameter C[i, j].
// A forward product uses act and save, an input-gradient product derivative and saved.
struct Epilogue {
  const float* bias = nullptr;
  Activation act = Activation::kIdentity;
  float slope = kDefaultLeakySlope;  // leaky_relu's negative_slope, for act and derivative
  // [M×ldv]: act(c) before dropout where backward_takes_output(act), else c before act.
  float* save = nullptr;
  int64_t ldv = 0;
  const float* scale = nullptr;  // [M×lds]: a dropout mask, 0 or 1/(1 − p)
  int64_t lds = 0;
  // With saved set: dL/dz of the activation `derivative` from the upstream gradient c and
  // saved[i, j] (activation_backward's saved; for relu any value > 0 exactly where z > 0).
  Activation derivative = Activation::kIdentity;
  const float* saved = nullptr;
  int64_t ldsv = 0;
  const UpdateRule* update = nullptr;
  float* state[3] = {nullptr, nullptr, nullptr};  // [M×ldu] each, the slots the rule uses
  int64_t ldu = 0;
};

// C[M×N] (∘ epilogue) = op(A) · B, op(A)[i, k] = trans_a ? A[k·lda + i] : A[i·lda + k].
// When a_rows is set, row r of A is a_rows[r] instead of A + r·lda: a batch read in place
// from the rows of a dataset.
struct GemmOp {
  int64_t M = 0, N = 0, K = 0;
  const float* A = nullptr;
  int64_t lda = 0;
  const float* const* a_rows = nullptr;
  bool trans_a = false;
  const float* B = nullptr;
  int64_t ldb = 0;
  float* C = nullptr;
  int64_t ldc = 0;
  Epilogue ep;
};

// Computes the rectangle rows [i0, i1) × columns [j0, j1) of op.
using GemmFn = void (*)(const GemmOp& op, int64_t i0, int64_t i1, int64_t j0, int64_t j1);

// One instruction-set path: its kernel, its register tile (mr rows × nr columns), and the
// activations over arrays on its instructions (activations.h).
struct Kernels {
  const char* name;
  GemmFn gemm;
  int64_t mr, nr;
  ActivationForwardFn activation_forward;
  ActivationBackwardFn activation_backward;
};

// The paths this build has and this CPU can run, best first ("avx512", "avx2" or "neon",
// "generic").
std::vector<const Kernels*> available_kernels();
// The path named by NANOMLP_KERNEL if set (std::invalid_argument if unknown or not runnable),
// else the best available.
const Kernels& select_kernels();
// The named path; std::invalid_argument if unknown or not runnable here.
const Kernels& kernels_named(const std::string& name);

// Whether the generic path fuses its multiply-adds (a target with hardware FMA): then it
// matches the SIMD paths bit for bit, else the reference kernels.
bool generic_fuses();

// A product cut into chunks for the thread pool: a grid of rectangles of whole register tiles,
// numbered down the columns. Every element lies in one chunk and is computed whole there, so
// the result does not depend on which thread runs which chunk. Products too small to gain
// from threads are a single chunk; large ones are cut finer than the threads need, so that a
// step can be abandoned between chunks (Ctrl-C) at any size. There are at most
// max(2·kChunksPerThread·threads, kMaxProductChunks) chunks.
constexpr int64_t kChunksPerThread = 4;
constexpr int64_t kMaxProductChunks = 64;
struct GemmChunks {
  int64_t count = 1;
  int64_t row_chunks = 1;
  int64_t rows = 0, cols = 0;  // rows and columns of a chunk (the last ones may be shorter)
};
GemmChunks gemm_chunks(const Kernels& kernels, const GemmOp& op, int threads);
void gemm_chunk(const Kernels& kernels, const GemmOp& op, const GemmChunks& chunks, int64_t chunk);

// dst[N×K] = src[K×N]ᵀ (src rows lds apart) for rows [n0, n1) of dst.
void transpose_rows(float* dst, const float* src, int64_t K, int64_t N, int64_t lds, int64_t n0,
                    int64_t n1);

}  // namespace nanomlp
