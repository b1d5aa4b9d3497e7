#include "nanomlp/gemm.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <stdexcept>

#include "gemm_paths.h"

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

// ---- The generic path: plain C++ the compiler vectorises for the baseline target ----------

namespace {

constexpr int64_t kGenericMr = 4;
constexpr int64_t kGenericNr = 16;

// Fused where the target has hardware FMA. NANOMLP_GENERIC_UNFUSED forces the unfused form
// there too: .ci/arm64 builds AArch64 so to compare it with baseline x86-64's generic path.
#if defined(FP_FAST_FMAF) && !defined(NANOMLP_GENERIC_UNFUSED)
#define NANOMLP_GENERIC_FUSES 1
#endif

inline float madd(float a, float b, float c) {
#if defined(NANOMLP_GENERIC_FUSES)
  return std::fma(a, b, c);
#else
  // Without hardware FMA a software fma would be slow; -ffp-contract=off keeps two roundings.
  return a * b + c;
#endif
}

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

// NC > 0: a full tile of NC columns (a constant trip count the compiler vectorises);
// NC == 0: nc < kGenericNr columns.
template <int64_t R, int64_t NC>
void generic_tile(const GemmOp& op, int64_t i, int64_t j, int64_t nc) {
  constexpr int64_t W = NC > 0 ? NC : kGenericNr;
  const int64_t n = NC > 0 ? NC : nc;
  float acc[R][W] = {};
  const float* b = op.B + j;
  auto row = [&](int64_t r) { return op.a_rows ? op.a_rows[r] : op.A + r * op.lda; };
  for (int64_t k = 0; k < op.K; ++k, b += op.ldb) {
    for (int64_t r = 0; r < R; ++r) {
      const float a = op.trans_a ? row(k)[i + r] : row(i + r)[k];
      for (int64_t c = 0; c < (NC > 0 ? NC : n); ++c) acc[r][c] = madd(a, b[c], acc[r][c]);
    }
  }
  for (int64_t r = 0; r < R; ++r) {
    float* dst = op.C + (i + r) * op.ldc + j;
    for (int64_t c = 0; c < n; ++c) dst[c] = finish(op.ep, acc[r][c], i + r, j + c, dst + c);
  }
}

template <int64_t R>
void generic_rows(const GemmOp& op, int64_t i, int64_t j0, int64_t j1) {
  for (int64_t j = j0; j < j1; j += kGenericNr) {
    const int64_t nc = std::min(kGenericNr, j1 - j);
    if (nc == kGenericNr)
      generic_tile<R, kGenericNr>(op, i, j, nc);
    else
      generic_tile<R, 0>(op, i, j, nc);
  }
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
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  if (feature == "avx512") return __builtin_cpu_supports("avx512f");
  if (feature == "avx2") return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
#if defined(__aarch64__)
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
  const int64_t col_chunks = std::min<int64_t>(col_blocks, threads);
  const int64_t row_chunks = std::min(row_blocks, (target + col_chunks - 1) / col_chunks);
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
