#include "nanomlp/gemm.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "gemm_paths.h"
#include "portable.h"

namespace nanomlp {

namespace reference {

namespace {

// One term of a reference sum. -ffp-contract=off keeps the unfused form two roundings.
inline float term(float a, float b, float acc, bool fused) {
  return fused ? std::fma(a, b, acc) : acc + a * b;
}

}  // namespace

void gemm_nn(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
             int64_t ldb, float* C, int64_t ldc, bool fused) {
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      float acc = 0.0f;
      for (int64_t k = 0; k < K; ++k) acc = term(A[i * lda + k], B[k * ldb + j], acc, fused);
      C[i * ldc + j] = acc;
    }
}

void gemm_tn(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
             int64_t ldb, float* C, int64_t ldc, bool fused) {
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      float acc = 0.0f;
      for (int64_t k = 0; k < K; ++k) acc = term(A[k * lda + i], B[k * ldb + j], acc, fused);
      C[i * ldc + j] = acc;
    }
}

void gemm_nt(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
             int64_t ldb, float* C, int64_t ldc, bool fused) {
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      float acc = 0.0f;
      for (int64_t k = 0; k < K; ++k) acc = term(A[i * lda + k], B[j * ldb + k], acc, fused);
      C[i * ldc + j] = acc;
    }
}

}  // namespace reference

// ---- The generic path: portable vectors, for any CPU -------------------------------------
//
// The kernel is written over Vec, four floats: a GCC/Clang vector extension (one SSE2 register
// on baseline x86-64, one NEON register on AArch64, what the target has elsewhere, scalar code
// where it has none), or, for compilers without the extension (MSVC), a plain struct of four
// floats that an optimiser can vectorise (GCC does, as fast as the extension here). Each element of
// C is one chain over k in order, as the reference's: which the arithmetic of that chain is, fused
// or not, is decided here.

namespace {

// Fused (one rounding per multiply-add, as the SIMD paths and the reference's `fused`) where
// the target has hardware FMA: AArch64, or x86-64 built with -mfma. Checked on the compiler's
// macros as well as <cmath>'s FP_FAST_FMAF, which not every compiler and C library define
// alike (Clang defines no __FP_FAST_FMAF), so that one target fuses whatever builds it.
// Elsewhere (baseline x86-64) a software fma would cost tens of cycles: a multiply rounded,
// then an add rounded, kept apart by -ffp-contract=off. NANOMLP_GENERIC_UNFUSED forces the
// unfused form: .ci/arm64 builds AArch64 so to compare it with baseline x86-64's generic path.
#if (defined(FP_FAST_FMAF) || defined(__FP_FAST_FMAF) || defined(__FMA__) || \
     defined(__ARM_FEATURE_FMA) || defined(NANOMLP_ARM64)) &&                \
    !defined(NANOMLP_GENERIC_UNFUSED)
#define NANOMLP_GENERIC_FUSES 1
#endif

inline float madd(float a, float b, float c) {
#if defined(NANOMLP_GENERIC_FUSES)
  return std::fma(a, b, c);
#else
  return a * b + c;
#endif
}

constexpr int kLanes = 4;

// NANOMLP_GENERIC_PLAIN: the struct with GCC or Clang too, to test it where MSVC is not at hand.
#if defined(NANOMLP_GNU_LIKE) && !defined(NANOMLP_GENERIC_PLAIN)
#define NANOMLP_GENERIC_VECTOR_EXTENSIONS 1
typedef float Vec __attribute__((vector_size(kLanes * sizeof(float))));
#else
// What the vector extension gives, spelled out: element access and lane-wise arithmetic.
struct Vec {
  float v[kLanes];
  float& operator[](int l) { return v[l]; }
  float operator[](int l) const { return v[l]; }
};
inline Vec operator*(Vec a, Vec b) {
  for (int l = 0; l < kLanes; ++l) a[l] *= b[l];
  return a;
}
inline Vec operator+(Vec a, Vec b) {
  for (int l = 0; l < kLanes; ++l) a[l] += b[l];
  return a;
}
#endif

NANOMLP_ALWAYS_INLINE Vec vec_load(const float* p) {
  Vec v;
  std::memcpy(&v, p, sizeof v);  // unaligned: any column offset
  return v;
}

NANOMLP_ALWAYS_INLINE Vec vec_set1(float x) {
#if defined(NANOMLP_GENERIC_VECTOR_EXTENSIONS)
  return Vec{x, x, x, x};
#else
  return Vec{{x, x, x, x}};
#endif
}

// a·b + c lane by lane, rounded as madd.
NANOMLP_ALWAYS_INLINE Vec vec_madd(Vec a, Vec b, Vec c) {
#if defined(NANOMLP_GENERIC_FUSES)
  // No vector fma in the extension: a lane-wise std::fma, which GCC and Clang turn into one
  // vector instruction (fmla on AArch64) where the target has it.
  for (int l = 0; l < kLanes; ++l) c[l] = std::fma(a[l], b[l], c[l]);
  return c;
#else
  return a * b + c;
#endif
}

// The tile: kGenericMr rows × kGenericNv vectors. 4 × 3: 12 accumulators, 3 vectors of a row
// of B and a broadcast of A, about x86-64's 16 vector registers (AArch64 has 32); 3 × 3, 4 × 2
// and 6 × 2 ran no faster.
constexpr int64_t kGenericMr = 4;
constexpr int kGenericNv = 3;
constexpr int64_t kGenericNr = kGenericNv * kLanes;

// Speed, and its bound. Baseline x86-64 has SSE2 and no FMA, so the unfused form costs one
// vector multiply and one vector add, each 4 wide, per 4 multiply-adds: 8 flops a cycle on a
// core issuing two such operations a cycle (Intel Skylake to Ice Lake), up to 16 on one issuing
// four (AMD Zen), against AVX2's 32 with FMA: 16.8 GFLOP/s at this machine's nominal 2.1 GHz
// (a Xeon with AVX-512, 2 cores shared). The product 256 × 784 · 784 × 128 on one thread ran at
// 17.4 GFLOP/s of CPU time here (the scalar loop before: 7.9; the AVX2 path: 46): at that
// bound (the core runs above its nominal clock, or issues more than two such operations a
// cycle). Faster needs wider vectors or FMA, which baseline x86-64 cannot assume: the AVX2 and
// AVX-512 paths, chosen at run time. Where the target has FMA (AArch64) each lane-wise std::fma
// becomes one vector FMA (fmla), and the same tile runs at the FMA rate.

inline float finish(const Epilogue& ep, float c, int64_t i, int64_t j, const float* old) {
  if (ep.bias) c += ep.bias[j];
  if (ep.act == Activation::kRelu) {
    c = c > 0.0f ? c : 0.0f;
  } else if (ep.act != Activation::kIdentity) {
    const float z = c;
    c = activation_forward(ep.act, ep.slope, z);
    if (ep.save) ep.save[i * ep.ldv + j] = backward_takes_output(ep.act) ? c : z;
  }
  if (ep.scale) c = c * ep.scale[i * ep.lds + j];
  if (ep.saved) {
    const float s = ep.saved[i * ep.ldsv + j];
    if (ep.derivative == Activation::kRelu)
      c = s > 0.0f ? c : 0.0f;
    else if (ep.derivative != Activation::kIdentity)
      c = activation_backward(ep.derivative, ep.slope, c, s);
  }
  if (ep.update) {
    float s[3] = {0.0f, 0.0f, 0.0f};
    for (int k = 0; k < 3; ++k)
      if (ep.state[k]) s[k] = ep.state[k][i * ep.ldu + j];
    c = apply_update(*ep.update, *old, c, s);
    for (int k = 0; k < 3; ++k)
      if (ep.state[k]) ep.state[k][i * ep.ldu + j] = s[k];
  }
  return c;
}

inline const float* a_row(const GemmOp& op, int64_t r) {
  return op.a_rows ? op.a_rows[r] : op.A + r * op.lda;
}

// Rows i..i+R, columns j..j+n through the epilogue, from their sums in acc (row stride W).
template <int64_t R, int64_t W>
void finish_tile(const GemmOp& op, const float (&acc)[R][W], int64_t i, int64_t j, int64_t n) {
  for (int64_t r = 0; r < R; ++r) {
    float* dst = op.C + (i + r) * op.ldc + j;
    for (int64_t c = 0; c < n; ++c) dst[c] = finish(op.ep, acc[r][c], i + r, j + c, dst + c);
  }
}

// R rows × NV vectors of columns from (i, j); TA: A is read transposed.
template <int64_t R, int NV, bool TA>
void vector_tile(const GemmOp& op, int64_t i, int64_t j) {
  Vec acc[R][NV];
  for (int64_t r = 0; r < R; ++r)
    for (int v = 0; v < NV; ++v) acc[r][v] = vec_set1(0.0f);
  const float* b = op.B + j;
  const float* ar[TA ? 1 : R];
  if (!TA)
    for (int64_t r = 0; r < R; ++r) ar[r] = a_row(op, i + r);
  for (int64_t k = 0; k < op.K; ++k, b += op.ldb) {
    Vec bv[NV];
    for (int v = 0; v < NV; ++v) bv[v] = vec_load(b + v * kLanes);
    const float* at = TA ? a_row(op, k) + i : nullptr;
    for (int64_t r = 0; r < R; ++r) {
      const Vec a = vec_set1(TA ? at[r] : ar[r][k]);
      for (int v = 0; v < NV; ++v) acc[r][v] = vec_madd(a, bv[v], acc[r][v]);
    }
  }
  float out[R][NV * kLanes];
  for (int64_t r = 0; r < R; ++r) std::memcpy(out[r], acc[r], sizeof acc[r]);
  finish_tile(op, out, i, j, NV * kLanes);
}

template <int64_t R, int NV>
void vector_tile(const GemmOp& op, int64_t i, int64_t j) {
  op.trans_a ? vector_tile<R, NV, true>(op, i, j) : vector_tile<R, NV, false>(op, i, j);
}

// R rows × n < kLanes columns from (i, j), one float at a time.
template <int64_t R>
void scalar_tile(const GemmOp& op, int64_t i, int64_t j, int64_t n) {
  float acc[R][kLanes] = {};
  const float* b = op.B + j;
  for (int64_t k = 0; k < op.K; ++k, b += op.ldb)
    for (int64_t r = 0; r < R; ++r) {
      const float a = op.trans_a ? a_row(op, k)[i + r] : a_row(op, i + r)[k];
      for (int64_t c = 0; c < n; ++c) acc[r][c] = madd(a, b[c], acc[r][c]);
    }
  finish_tile(op, acc, i, j, n);
}

template <int64_t R>
void generic_rows(const GemmOp& op, int64_t i, int64_t j0, int64_t j1) {
  int64_t j = j0;
  for (; j + kGenericNr <= j1; j += kGenericNr) vector_tile<R, kGenericNv>(op, i, j);
  // The last columns: whole vectors, then the rest.
  switch ((j1 - j) / kLanes) {
    case 3: vector_tile<R, 3>(op, i, j), j += 3 * kLanes; break;
    case 2: vector_tile<R, 2>(op, i, j), j += 2 * kLanes; break;
    case 1: vector_tile<R, 1>(op, i, j), j += kLanes; break;
    default: break;
  }
  if (j < j1) scalar_tile<R>(op, i, j, j1 - j);
}

void generic_gemm(const GemmOp& op, int64_t i0, int64_t i1, int64_t j0, int64_t j1) {
  int64_t i = i0;
  for (; i + kGenericMr <= i1; i += kGenericMr) generic_rows<kGenericMr>(op, i, j0, j1);
  switch (i1 - i) {
    case 3: generic_rows<3>(op, i, j0, j1); break;
    case 2: generic_rows<2>(op, i, j0, j1); break;
    case 1: generic_rows<1>(op, i, j0, j1); break;
    default: break;
  }
}

const Kernels kGeneric = {"generic",
                          generic_gemm,
                          kGenericMr,
                          kGenericNr,
                          detail::generic_activation_forward,
                          detail::generic_activation_backward};

bool cpu_has(const std::string& feature) {
  static const portable::X86Features x86 = portable::x86_features();
  if (feature == "avx512") return x86.avx512f;
  if (feature == "avx2") return x86.avx2_fma;
#if defined(NANOMLP_ARM64)
  // Advanced SIMD is mandatory in AArch64.
  if (feature == "neon") return true;
#endif
  return false;
}

}  // namespace

std::vector<const Kernels*> available_kernels() {
  std::vector<const Kernels*> out;
  if (const Kernels* k = detail::avx512_kernels(); k && cpu_has("avx512")) out.push_back(k);
  if (const Kernels* k = detail::avx2_kernels(); k && cpu_has("avx2")) out.push_back(k);
  if (const Kernels* k = detail::neon_kernels(); k && cpu_has("neon")) out.push_back(k);
  out.push_back(&kGeneric);
  return out;
}

const Kernels& kernels_named(const std::string& name) {
  std::string names;
  for (const Kernels* k : available_kernels()) {
    if (name == k->name) return *k;
    names += (names.empty() ? "" : ", ") + std::string(k->name);
  }
  if (name != "avx512" && name != "avx2" && name != "neon" && name != "generic")
    throw std::invalid_argument("unknown kernel '" + name +
                                "': expected avx512, avx2, neon or generic");
  throw std::invalid_argument("kernel '" + name +
                              "' cannot run on this CPU or build (available: " + names + ")");
}

const Kernels& select_kernels() {
  const char* env = std::getenv("NANOMLP_KERNEL");
  if (env && *env) {
    try {
      return kernels_named(env);
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(std::string("NANOMLP_KERNEL: ") + e.what());
    }
  }
  return *available_kernels().front();
}

bool generic_fuses() {
#if defined(NANOMLP_GENERIC_FUSES)
  return true;
#else
  return false;
#endif
}

// A chunk smaller than this many flops (about a microsecond) costs more to hand out than it
// gains.
constexpr int64_t kMinChunkFlops = int64_t{1} << 18;
// A chunk larger than this many flops (a few milliseconds) is cut, on any thread count, so
// that the work between two looks at Ctrl-C stays short.
constexpr int64_t kMaxChunkFlops = int64_t{1} << 28;

// Row blocks a chunk should hold at least, where the columns allow.
constexpr int64_t kMinChunkRowBlocks = 4;

GemmChunks gemm_chunks(const Kernels& kernels, const GemmOp& op, int threads) {
  GemmChunks c;
  c.rows = op.M;
  c.cols = op.N;
  // A few chunks per thread, so that a thread that falls behind leaves its share to the
  // others, but none too small; and none too large.
  const int64_t flops = 2 * op.M * op.N * op.K;
  const int64_t target =
      std::max(threads <= 1 ? int64_t{1}
                            : std::min<int64_t>(kChunksPerThread * threads, flops / kMinChunkFlops),
               std::min(kMaxProductChunks, flops / kMaxChunkFlops));
  if (op.M <= 0 || op.N <= 0 || target < 2) return c;
  // One band of columns per thread, cut across the rows. Chunks are numbered down the
  // columns, so a thread's share is its band: the same band of W in a layer's forward product
  // and in its update, and a whole band per chunk, so each row of A is read once per chunk.
  const int64_t row_blocks = (op.M + kernels.mr - 1) / kernels.mr;
  const int64_t col_blocks = (op.N + kernels.nr - 1) / kernels.nr;
  int64_t col_chunks = std::min<int64_t>(col_blocks, threads);
  int64_t row_chunks = std::min(row_blocks, (target + col_chunks - 1) / col_chunks);
  // A product of few rows (a small batch's forward pass) is cut further across its columns
  // rather than into chunks of a row block or two, each of which would pack the same panels of
  // B again. The column chunks stay a multiple of the threads, so each thread keeps its band.
  if (row_blocks < kMinChunkRowBlocks * row_chunks) {
    row_chunks = std::max<int64_t>(1, row_blocks / kMinChunkRowBlocks);
    const int64_t wanted = std::min(col_blocks, (target + row_chunks - 1) / row_chunks);
    col_chunks = std::max(col_chunks, wanted / threads * threads);
  }
  const int64_t row_blocks_per = (row_blocks + row_chunks - 1) / row_chunks;
  const int64_t col_blocks_per = (col_blocks + col_chunks - 1) / col_chunks;
  c.rows = row_blocks_per * kernels.mr;
  c.cols = col_blocks_per * kernels.nr;
  c.row_chunks = (row_blocks + row_blocks_per - 1) / row_blocks_per;
  c.count = c.row_chunks * ((col_blocks + col_blocks_per - 1) / col_blocks_per);
  return c;
}

void gemm_chunk(const Kernels& kernels, const GemmOp& op, const GemmChunks& chunks, int64_t chunk) {
  const int64_t i0 = (chunk % chunks.row_chunks) * chunks.rows;
  const int64_t j0 = (chunk / chunks.row_chunks) * chunks.cols;
  const int64_t i1 = std::min(op.M, i0 + chunks.rows), j1 = std::min(op.N, j0 + chunks.cols);
  if (i0 < i1 && j0 < j1) kernels.gemm(op, i0, i1, j0, j1);
}

void transpose_rows(float* dst, const float* src, int64_t K, int64_t N, int64_t lds, int64_t n0,
                    int64_t n1) {
  // Blocks of 8 destination rows read 8 neighbours of each source row at once.
  constexpr int64_t kBlock = 8;
  for (int64_t nb = n0; nb < n1; nb += kBlock) {
    const int64_t ne = std::min(n1, nb + kBlock);
    for (int64_t k = 0; k < K; ++k)
      for (int64_t n = nb; n < ne; ++n) dst[n * K + k] = src[k * lds + n];
  }
}

}  // namespace nanomlp
