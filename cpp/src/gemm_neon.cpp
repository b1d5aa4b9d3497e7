// The Arm64 path: AArch64 Advanced SIMD (NEON), 4 floats a register. NEON is part of every
// AArch64 CPU, so this file needs no target flags and the path is always available there.
//
// It must give the x86 paths' bits, operation for operation. vfmaq_f32 is a fused multiply-add
// rounded once, like x86's FMA, and the tile sums each element of C over k in the same order,
// so the products agree; division and square root are IEEE on AArch64. Where NEON's own
// instruction rounds alike but treats NaN or signed zeros differently (vminq/vmaxq), the x86
// semantics are rebuilt from a comparison and a select. The one difference left is the NaN an
// invalid operation creates (inf − inf, 0·inf): x86 gives 0xFFC00000, AArch64 0x7FC00000. Most
// activations return the canonical NaN whatever they met; leaky_relu with slope 0 at −inf
// (−inf·0) shows the CPU's, as do products and updates that meet infinities.
//
// Speed: the tests and CI run this path under qemu, which says nothing about how fast it is.
// From its structure: a tile of 8 rows × 3 registers (12 columns) is 24 independent fused
// multiply-add chains per k step, for 3 loads of B and 8 broadcasts of A. Cores with two
// 128-bit FMA pipes and a latency of 4 (Cortex-A76/A78, Neoverse N1/N2) need 8 chains in flight
// and retire the 24 FMAs in 12 cycles, against 11 loads over 2–3 load ports: FMA-bound, so the
// inner loop can run near peak (8 flops × 2 pipes a cycle). Cores with four pipes (Neoverse
// V1/V2, Apple M1 and later) need 16 chains and retire the FMAs in 6 cycles, about as long as
// the loads take on 2 ports: expect roughly 70–90 % of peak in the loop, less overall for the
// small products of this library, whose epilogues and edges weigh more than the loop.
#include "gemm_paths.h"
#include "portable.h"

#if defined(NANOMLP_ARM64)
#include <arm_neon.h>

#include <algorithm>
#include <cstring>

#define NANOMLP_TARGET
#define NANOMLP_VEC_INLINE NANOMLP_ALWAYS_INLINE static

namespace nanomlp {
namespace {

struct V {
  using reg = float32x4_t;
  // NEON has no masked loads or stores: a mask is the count of valid lanes, and the tails go
  // through a register-sized buffer on the stack, so nothing past the end of an array is read
  // or written. Off lanes read as 0, as x86's masked loads give.
  using mask = int;
  static constexpr int W = 4;
  NANOMLP_VEC_INLINE reg zero() { return vdupq_n_f32(0.0f); }
  NANOMLP_VEC_INLINE reg set1(float x) { return vdupq_n_f32(x); }
  NANOMLP_VEC_INLINE mask tail_mask(int n) { return n >= W ? W : n; }
  NANOMLP_VEC_INLINE reg load(const float* p) { return vld1q_f32(p); }
  NANOMLP_VEC_INLINE reg load_tail(const float* p, mask m) {
    float buf[W] = {0.0f, 0.0f, 0.0f, 0.0f};
    std::memcpy(buf, p, sizeof(float) * static_cast<size_t>(m));
    return vld1q_f32(buf);
  }
  NANOMLP_VEC_INLINE void store(float* p, reg x) { vst1q_f32(p, x); }
  NANOMLP_VEC_INLINE void store_tail(float* p, reg x, mask m) {
    float buf[W];
    vst1q_f32(buf, x);
    std::memcpy(p, buf, sizeof(float) * static_cast<size_t>(m));
  }
  NANOMLP_VEC_INLINE reg broadcast(const float* p) { return vld1q_dup_f32(p); }
  // a·b + c, rounded once.
  NANOMLP_VEC_INLINE reg fmadd(reg a, reg b, reg c) { return vfmaq_f32(c, a, b); }
  NANOMLP_VEC_INLINE reg add(reg a, reg b) { return vaddq_f32(a, b); }
  NANOMLP_VEC_INLINE reg sub(reg a, reg b) { return vsubq_f32(a, b); }
  NANOMLP_VEC_INLINE reg mul(reg a, reg b) { return vmulq_f32(a, b); }
  NANOMLP_VEC_INLINE reg div(reg a, reg b) { return vdivq_f32(a, b); }
  NANOMLP_VEC_INLINE reg sqrt(reg a) { return vsqrtq_f32(a); }
  // x86's a < b ? a : b and a > b ? a : b: the second operand when one is NaN, and between −0
  // and +0. vminq/vmaxq return NaN for a NaN operand and order −0 below +0, so the rules'
  // clamps (NaN kept, max(x, 0) = 0 for NaN and −0) need the comparison spelt out.
  NANOMLP_VEC_INLINE reg min(reg a, reg b) { return vbslq_f32(vcltq_f32(a, b), a, b); }
  NANOMLP_VEC_INLINE reg max(reg a, reg b) { return vbslq_f32(vcgtq_f32(a, b), a, b); }
  // 0 where |x| < limit, x elsewhere (NaN included: the comparison is false for it).
  NANOMLP_VEC_INLINE reg flush_below(reg x, float limit) {
    const uint32x4_t tiny = vcaltq_f32(x, vdupq_n_f32(limit));
    return vreinterpretq_f32_u32(vbicq_u32(vreinterpretq_u32_f32(x), tiny));
  }
  // x where m > 0, else +0 (NaN in m gives +0).
  NANOMLP_VEC_INLINE reg keep_where_positive(reg x, reg m) {
    const uint32x4_t pos = vcgtq_f32(m, vdupq_n_f32(0.0f));
    return vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(x), pos));
  }
  // For the activations (activation_rules.inc): comparisons into a lane mask, selection by it,
  // and the exponent-field operations.
  using cmp = uint32x4_t;
  // Ordered: false when either is NaN, as x86's _CMP_GT_OQ.
  NANOMLP_VEC_INLINE cmp gt(reg a, reg b) { return vcgtq_f32(a, b); }
  NANOMLP_VEC_INLINE cmp isnan(reg a) { return vmvnq_u32(vceqq_f32(a, a)); }
  // m ? a : b, lane by lane.
  NANOMLP_VEC_INLINE reg select(cmp m, reg a, reg b) { return vbslq_f32(m, a, b); }
  NANOMLP_VEC_INLINE reg neg_abs(reg a) {
    return vreinterpretq_f32_u32(vorrq_u32(vreinterpretq_u32_f32(a), vdupq_n_u32(0x80000000u)));
  }
  // 2^n for integral n in [−127, 127]: exact, so truncation converts it as x86's cvttps does.
  // A NaN n (from a NaN argument, whose result is NaN whatever this factor) converts to 0 here
  // and to INT_MIN on x86; both give 1.0 once shifted, not that it matters.
  NANOMLP_VEC_INLINE reg pow2(reg n) {
    const int32x4_t biased = vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127));
    return vreinterpretq_f32_s32(vshlq_n_s32(biased, 23));
  }
};

// The tile: 8 rows × 3 registers. AArch64 has 32 vector registers; 24 accumulators, 3 of B
// and 1–2 for the broadcast A leave a few spare, so the loop never spills. 6 × 4 would fit as
// well (and load one register fewer per k), but its kNr of 16 columns leaves tails of 13–15
// columns in 4 registers, which gemm_simd.inc's row_block does not dispatch; 8 × 3 also keeps
// the AVX-512 path's row blocking.
constexpr int kMr = 8;
constexpr int kNv = 3;
constexpr int kRegisters = 32;  // vector registers the tiles may fill
// Not packed until measured on Arm hardware: an emulator tells nothing of cache behaviour.
constexpr int64_t kPackStride = 0;

#include "gemm_simd.inc"

const Kernels kNeon = {
    "neon", simd_gemm, kMr, kNr, simd_activation_forward, simd_activation_backward};

}  // namespace

const Kernels* detail::neon_kernels() { return &kNeon; }

}  // namespace nanomlp

#else

const nanomlp::Kernels* nanomlp::detail::neon_kernels() { return nullptr; }

#endif
