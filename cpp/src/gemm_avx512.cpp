// The AVX-512 path, compiled for avx512f through target attributes only: the rest of the
// library stays baseline x86-64 and this code runs only where the CPU reports avx512f. (MSVC
// needs no attribute for the intrinsics: portable.h.)
#include "gemm_paths.h"
#include "portable.h"

#if defined(NANOMLP_X86_SIMD)
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
// GCC 12's AVX-512 intrinsics start from a deliberately undefined register and then warn that
// it may be used uninitialised (GCC bug 105593, fixed in GCC 13).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include <immintrin.h>

#include <algorithm>

#define NANOMLP_TARGET NANOMLP_TARGET_ISA("avx512f,avx2,fma")
#define NANOMLP_VEC_INLINE NANOMLP_TARGET NANOMLP_ALWAYS_INLINE static

namespace nanomlp {
namespace {

struct V {
  using reg = __m512;
  using mask = __mmask16;
  static constexpr int W = 16;
  NANOMLP_VEC_INLINE reg zero() { return _mm512_setzero_ps(); }
  NANOMLP_VEC_INLINE reg set1(float x) { return _mm512_set1_ps(x); }
  NANOMLP_VEC_INLINE mask tail_mask(int n) {
    return static_cast<mask>(n >= 16 ? 0xFFFFu : (1u << n) - 1u);
  }
  NANOMLP_VEC_INLINE reg load(const float* p) { return _mm512_loadu_ps(p); }
  NANOMLP_VEC_INLINE reg load_tail(const float* p, mask m) { return _mm512_maskz_loadu_ps(m, p); }
  NANOMLP_VEC_INLINE void store(float* p, reg x) { _mm512_storeu_ps(p, x); }
  NANOMLP_VEC_INLINE void store_tail(float* p, reg x, mask m) { _mm512_mask_storeu_ps(p, m, x); }
  NANOMLP_VEC_INLINE reg broadcast(const float* p) { return _mm512_set1_ps(*p); }
  NANOMLP_VEC_INLINE reg fmadd(reg a, reg b, reg c) { return _mm512_fmadd_ps(a, b, c); }
  NANOMLP_VEC_INLINE reg add(reg a, reg b) { return _mm512_add_ps(a, b); }
  NANOMLP_VEC_INLINE reg sub(reg a, reg b) { return _mm512_sub_ps(a, b); }
  NANOMLP_VEC_INLINE reg mul(reg a, reg b) { return _mm512_mul_ps(a, b); }
  NANOMLP_VEC_INLINE reg div(reg a, reg b) { return _mm512_div_ps(a, b); }
  NANOMLP_VEC_INLINE reg sqrt(reg a) { return _mm512_sqrt_ps(a); }
  // a < b ? a : b and a > b ? a : b: the second operand when one is NaN.
  NANOMLP_VEC_INLINE reg min(reg a, reg b) { return _mm512_min_ps(a, b); }
  // max(x, 0) returns 0 for NaN and −0, as x > 0 ? x : 0 does.
  NANOMLP_VEC_INLINE reg max(reg a, reg b) { return _mm512_max_ps(a, b); }
  // 0 where |x| < limit, x elsewhere (NaN included).
  NANOMLP_VEC_INLINE reg flush_below(reg x, float limit) {
    return _mm512_maskz_mov_ps(
        _mm512_cmp_ps_mask(_mm512_abs_ps(x), _mm512_set1_ps(limit), _CMP_NLT_UQ), x);
  }
  NANOMLP_VEC_INLINE reg keep_where_positive(reg x, reg m) {
    return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(m, _mm512_setzero_ps(), _CMP_GT_OQ), x);
  }
  // For the activations (activation_rules.inc): comparisons into a mask, selection by it, and
  // the exponent-field operations.
  using cmp = __mmask16;
  NANOMLP_VEC_INLINE cmp gt(reg a, reg b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
  NANOMLP_VEC_INLINE cmp isnan(reg a) { return _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q); }
  // m ? a : b, lane by lane.
  NANOMLP_VEC_INLINE reg select(cmp m, reg a, reg b) { return _mm512_mask_blend_ps(m, b, a); }
  NANOMLP_VEC_INLINE reg neg_abs(reg a) {
    const __m512i sign = _mm512_set1_epi32(static_cast<int>(0x80000000u));
    return _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(a), sign));
  }
  // 2^n for integral n in [−127, 127]: exact in any conversion mode, so truncation.
  NANOMLP_VEC_INLINE reg pow2(reg n) {
    const __m512i biased = _mm512_add_epi32(_mm512_cvttps_epi32(n), _mm512_set1_epi32(127));
    return _mm512_castsi512_ps(_mm512_slli_epi32(biased, 23));
  }
};

constexpr int kMr = 8;
constexpr int kNv = 2;
constexpr int kRegisters = 32;  // vector registers the tiles may fill
// Packs only products whose rows of B are a multiple of 4 KB apart, which share one L1 set. On
// AMD Zen 4 packing them made the 784-1024-1024-10 epoch 5% faster, and packing every product
// made the 784-128-64-10 epoch 4% slower: an AVX-512 tile does 16 multiply-adds per row of B
// where AVX2's does 12, so it waits less on B's misses, and the copy costs more than it saves.
constexpr int64_t kPackStride = 1024;

#include "gemm_simd.inc"

const Kernels kAvx512 = {
    "avx512", simd_gemm, kMr, kNr, simd_activation_forward, simd_activation_backward};

}  // namespace

const Kernels* detail::avx512_kernels() { return &kAvx512; }

}  // namespace nanomlp

#else

const nanomlp::Kernels* nanomlp::detail::avx512_kernels() { return nullptr; }

#endif
