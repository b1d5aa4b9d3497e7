// Matrix products over row-major float32 buffers with explicit leading dimensions.
// Three shapes cover a dense layer: forward (NN), weight gradient (TN), input gradient (NT).
#pragma once
#include <cstdint>

namespace nanomlp {

// C[M×N] = A[M×K] · B[K×N]                (forward: Z = X·W)
void gemm_nn(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
             int64_t ldb, float* C, int64_t ldc);
// C[M×N] = A[K×M]ᵀ · B[K×N]               (weight gradient: dW = Xᵀ·dZ)
void gemm_tn(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
             int64_t ldb, float* C, int64_t ldc);
// C[M×N] = A[M×K] · B[N×K]ᵀ               (input gradient: dX = dZ·Wᵀ)
void gemm_nt(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
             int64_t ldb, float* C, int64_t ldc);

// The naive triple loops: the definition the fast kernels are tested against.
namespace reference {
void gemm_nn(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
             int64_t ldb, float* C, int64_t ldc);
void gemm_tn(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
             int64_t ldb, float* C, int64_t ldc);
void gemm_nt(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
             int64_t ldb, float* C, int64_t ldc);
}  // namespace reference

}  // namespace nanomlp
