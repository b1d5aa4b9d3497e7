// The AVX2 path, compiled for avx2 and fma through target attributes only: the rest of the
// library stays baseline x86-64 and this code runs only where the CPU reports both. (MSVC
// needs no attribute for the intrinsics: portable.h.)
#include "gemm_paths.h"
#include "portable.h"

#if defined(NANOMLP_X86_SIMD)
#include <immintrin.h>

#include <algorithm>

#define NANOMLP_TARGET NANOMLP_TARGET_ISA("avx2,fma")
#define NANOMLP_VEC_INLINE NANOMLP_TARGET NANOMLP_ALWAYS_INLINE static

namespace nanomlp {
namespace {

struct V {
  using reg = __m256;
  using mask = __m256i;
  static constexpr int W = 8;
  NANOMLP_VEC_INLINE reg zero() { return _mm256_setzero_ps(); }
  NANOMLP_VEC_INLINE reg set1(float x) { return _mm256_set1_ps(x); }
  NANOMLP_VEC_INLINE mask tail_mask(int n) {
    // Lane l is on when l < n: its sign bit is set.
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  NANOMLP_VEC_INLINE reg load(const float* p) { return _mm256_loadu_ps(p); }
  NANOMLP_VEC_INLINE reg load_tail(const float* p, mask m) { return _mm256_maskload_ps(p, m); }
  NANOMLP_VEC_INLINE void store(float* p, reg x) { _mm256_storeu_ps(p, x); }
  NANOMLP_VEC_INLINE void store_tail(float* p, reg x, mask m) { _mm256_maskstore_ps(p, m, x); }
  NANOMLP_VEC_INLINE reg broadcast(const float* p) { return _mm256_broadcast_ss(p); }
  NANOMLP_VEC_INLINE reg fmadd(reg a, reg b, reg c) { return _mm256_fmadd_ps(a, b, c); }
  NANOMLP_VEC_INLINE reg add(reg a, reg b) { return _mm256_add_ps(a, b); }
  NANOMLP_VEC_INLINE reg sub(reg a, reg b) { return _mm256_sub_ps(a, b); }
  NANOMLP_VEC_INLINE reg mul(reg a, reg b) { return _mm256_mul_ps(a, b); }
  NANOMLP_VEC_INLINE reg div(reg a, reg b) { return _mm256_div_ps(a, b); }
  NANOMLP_VEC_INLINE reg sqrt(reg a) { return _mm256_sqrt_ps(a); }
  // a < b ? a : b and a > b ? a : b: the second operand when one is NaN.
  NANOMLP_VEC_INLINE reg min(reg a, reg b) { return _mm256_min_ps(a, b); }
  // max(x, 0) returns 0 for NaN and −0, as x > 0 ? x : 0 does.
  NANOMLP_VEC_INLINE reg max(reg a, reg b) { return _mm256_max_ps(a, b); }
  // 0 where |x| < limit, x elsewhere (NaN included).
  NANOMLP_VEC_INLINE reg flush_below(reg x, float limit) {
    const reg a = _mm256_and_ps(x, _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF)));
    return _mm256_and_ps(x, _mm256_cmp_ps(a, _mm256_set1_ps(limit), _CMP_NLT_UQ));
  }
  NANOMLP_VEC_INLINE reg keep_where_positive(reg x, reg m) {
    return _mm256_and_ps(x, _mm256_cmp_ps(m, _mm256_setzero_ps(), _CMP_GT_OQ));
  }
  // For the activations (activation_rules.inc): comparisons into a lane mask, selection by it,
  // and the exponent-field operations.
  using cmp = __m256;
  NANOMLP_VEC_INLINE cmp gt(reg a, reg b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
  NANOMLP_VEC_INLINE cmp isnan(reg a) { return _mm256_cmp_ps(a, a, _CMP_UNORD_Q); }
  // m ? a : b, lane by lane.
  NANOMLP_VEC_INLINE reg select(cmp m, reg a, reg b) { return _mm256_blendv_ps(b, a, m); }
  NANOMLP_VEC_INLINE reg neg_abs(reg a) { return _mm256_or_ps(a, _mm256_set1_ps(-0.0f)); }
  // 2^n for integral n in [−127, 127]: exact in any conversion mode, so truncation.
  NANOMLP_VEC_INLINE reg pow2(reg n) {
    const __m256i biased = _mm256_add_epi32(_mm256_cvttps_epi32(n), _mm256_set1_epi32(127));
    return _mm256_castsi256_ps(_mm256_slli_epi32(biased, 23));
  }
};

constexpr int kMr = 6;
constexpr int kNv = 2;
constexpr int kRegisters = 16;  // vector registers the tiles may fill
// Packs the panels of every deep product: see "Packing" in gemm_simd.inc.
constexpr int64_t kPackStride = 1;

#include "gemm_simd.inc"

const Kernels kAvx2 = {
    "avx2", simd_gemm, kMr, kNr, simd_activation_forward, simd_activation_backward};

}  // namespace

const Kernels* detail::avx2_kernels() { return &kAvx2; }

}  // namespace nanomlp

#else

const nanomlp::Kernels* nanomlp::detail::avx2_kernels() { return nullptr; }

#endif
