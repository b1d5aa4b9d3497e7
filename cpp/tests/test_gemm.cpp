// The fast kernels against the naive reference kernels, bit for bit, on every path this CPU
// runs: sizes around the register tiles, leading dimensions wider than the rows, rows read
// through pointers, Aᵀ, every epilogue, and the products cut into chunks for 1 to 4 threads.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "nanomlp/gemm.h"
#include "nanomlp/threads.h"
#include "util.h"

namespace nanomlp::test {
namespace {

// C = A·B, Aᵀ·B, or A·Bᵀ (which the engine runs as A·(packed Bᵀ), as for an input gradient).
enum class Shape { kNN, kTN, kNT };
// Packed: every leading dimension is its row's width. Padded: each is wider, and the gaps
// hold NaN (inputs) or a sentinel (outputs), so a read or write outside the rows shows.
// Rows: padded, and A is read through pointers to shuffled rows of a larger table.
enum class Layout { kPacked, kPadded, kRows };

const char* name_of(Shape s) { return s == Shape::kNN ? "nn" : s == Shape::kTN ? "tn" : "nt"; }
const char* name_of(Layout l) {
  return l == Layout::kPacked ? "packed" : l == Layout::kPadded ? "padded" : "rows";
}

// An epilogue, as the tests describe it; a velocity buffer goes with momentum != 0, as in the
// engine. relu: the forward's ReLU; act: another activation, whose saved values (save) are
// checked too; mask: the backward of the activation deriv, the mask its saved values;
// dropout: a scale of 0 or 1.25 per element.
struct Ep {
  const char* name;
  bool bias, relu, mask, sgd;
  float lr, weight_decay, momentum;
  bool nesterov;
  Activation act = Activation::kIdentity;
  Activation deriv = Activation::kRelu;
  bool dropout = false;
};

// {name, bias, relu, mask, sgd, lr, weight_decay, momentum, nesterov}
const Ep kPlain = {"plain", false, false, false, false, 0.0f, 0.0f, 0.0f, false};
const Ep kBias = {"bias", true, false, false, false, 0.0f, 0.0f, 0.0f, false};
const Ep kForward = {"bias+relu", true, true, false, false, 0.0f, 0.0f, 0.0f, false};
const Ep kMask = {"mask", false, false, true, false, 0.0f, 0.0f, 0.0f, false};
const Ep kSgd = {"sgd", false, false, false, true, 0.05f, 0.0f, 0.0f, false};
const Ep kDecay = {"sgd+decay", false, false, false, true, 0.05f, 0.01f, 0.0f, false};
const Ep kMomentum = {"sgd+momentum", false, false, false, true, 0.05f, 0.0f, 0.9f, false};
const Ep kNesterov = {"sgd+nesterov", false, false, false, true, 0.1f, 0.0f, 0.5f, true};
const Ep kAll = {"sgd+decay+nesterov", false, false, false, true, 0.03f, 0.001f, 0.9f, true};
const Ep kEpilogues[] = {kPlain, kBias, kForward, kMask, kSgd, kDecay, kMomentum, kNesterov, kAll};

const float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kSentinel = -12345.0f;  // where nothing may be written
constexpr float kUnwritten = 4321.0f;   // where everything must be written

// One product with its operands, laid out as the test asks.
struct Problem {
  Shape shape;
  Layout layout;
  Ep ep;
  int64_t M, N, K;
  std::vector<float> a;  // A, rows lda apart: M×K, or K×M for Aᵀ (the reference reads this)
  int64_t lda;
  std::vector<float> table;  // Layout::kRows: the rows A is picked from, lda apart
  std::vector<const float*> rows;
  std::vector<float> b;  // K×N, or N×K for Bᵀ
  int64_t ldb;
  std::vector<float> bias;   // [N]
  std::vector<float> mask;   // M×N, ldc apart
  std::vector<float> scale;  // M×N, ldc apart: 0 or 1.25
  std::vector<float> save;   // M×N, ldc apart: where the forward saves for its derivative
  std::vector<float> c;      // C before the product: W for the SGD epilogue; M×N, ldc apart
  std::vector<float> v;      // velocities, M×N, ldc apart, when momentum != 0
  int64_t ldc;
  UpdateRule rule;  // the engine's form of the SGD epilogue
};

// rows × width floats in a buffer whose rows are ld apart; the gaps hold `gap`.
std::vector<float> matrix(int64_t rows, int64_t width, int64_t ld, uint32_t seed, float gap) {
  std::vector<float> m = random_floats(static_cast<size_t>(rows * ld), seed);
  for (int64_t r = 0; r < rows; ++r) std::fill(&m[r * ld + width], &m[r * ld + ld], gap);
  return m;
}

// Whether the forward writes values for the derivative: an activation other than ReLU.
bool saves(const Ep& ep) { return ep.act != Activation::kIdentity && ep.act != Activation::kRelu; }

Problem make_problem(Shape shape, Layout layout, const Ep& ep, int64_t M, int64_t N, int64_t K,
                     uint32_t seed) {
  Problem p{};
  p.shape = shape, p.layout = layout, p.ep = ep, p.M = M, p.N = N, p.K = K;
  OptimizerConfig sgd;
  sgd.momentum = ep.momentum, sgd.nesterov = ep.nesterov, sgd.weight_decay = ep.weight_decay;
  // Step 2: past the first, whose momentum buffer would take the gradient as it is.
  p.rule = make_rule(sgd, ep.lr, 2, true, 0.0);
  const int64_t pad = layout == Layout::kPacked ? 0 : 3;
  const int64_t a_rows = shape == Shape::kTN ? K : M, a_width = shape == Shape::kTN ? M : K;
  p.lda = a_width + pad;
  if (layout == Layout::kRows) {
    // A's rows, shuffled among others that must not be read.
    const int64_t table_rows = a_rows + 5;
    p.table = matrix(table_rows, a_width, p.lda, seed, kNaN);
    std::vector<int64_t> order(static_cast<size_t>(table_rows));
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), std::mt19937(seed + 1));
    p.a.assign(static_cast<size_t>(a_rows * p.lda), kNaN);
    for (int64_t r = 0; r < a_rows; ++r) {
      p.rows.push_back(&p.table[order[r] * p.lda]);
      std::copy(p.rows.back(), p.rows.back() + a_width, &p.a[r * p.lda]);
    }
  } else {
    p.a = matrix(a_rows, a_width, p.lda, seed, kNaN);
  }
  const int64_t b_rows = shape == Shape::kNT ? N : K, b_width = shape == Shape::kNT ? K : N;
  p.ldb = b_width + pad;
  p.b = matrix(b_rows, b_width, p.ldb, seed + 2, kNaN);
  p.ldc = N + pad;
  p.bias = random_floats(static_cast<size_t>(N), seed + 3);
  // A ReLU's output: zero (exactly) about half the time; for the other derivatives, z or a.
  p.mask = matrix(M, N, p.ldc, seed + 4, kNaN);
  if (ep.deriv == Activation::kRelu)
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) p.mask[i * p.ldc + j] = std::max(p.mask[i * p.ldc + j], 0.0f);
  p.scale = matrix(M, N, p.ldc, seed + 7, kNaN);
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j)
      p.scale[i * p.ldc + j] = p.scale[i * p.ldc + j] > -0.6f ? 1.25f : 0.0f;
  p.save = matrix(M, N, p.ldc, seed + 8, kSentinel);
  if (saves(ep))
    for (int64_t i = 0; i < M; ++i)
      std::fill(&p.save[i * p.ldc], &p.save[i * p.ldc + N], kUnwritten);
  p.c = matrix(M, N, p.ldc, seed + 5, kSentinel);
  if (!ep.sgd)  // C is only written
    for (int64_t i = 0; i < M; ++i) std::fill(&p.c[i * p.ldc], &p.c[i * p.ldc + N], kUnwritten);
  if (ep.momentum != 0.0f) p.v = matrix(M, N, p.ldc, seed + 6, kSentinel);
  return p;
}

// What the product must leave in C and the velocities, computed with the reference kernels and
// plain loops: each epilogue step rounded on its own, in the documented order.
void expected(const Problem& p, bool fused, std::vector<float>* c, std::vector<float>* v,
              std::vector<float>* saved) {
  std::vector<float> prod(static_cast<size_t>(p.M * p.N));
  const float* a = p.a.data();
  const float* b = p.b.data();
  switch (p.shape) {
    case Shape::kNN:
      reference::gemm_nn(p.M, p.N, p.K, a, p.lda, b, p.ldb, prod.data(), p.N, fused);
      break;
    case Shape::kTN:
      reference::gemm_tn(p.M, p.N, p.K, a, p.lda, b, p.ldb, prod.data(), p.N, fused);
      break;
    case Shape::kNT:
      reference::gemm_nt(p.M, p.N, p.K, a, p.lda, b, p.ldb, prod.data(), p.N, fused);
      break;
  }
  *c = p.c;
  *v = p.v;
  *saved = p.save;
  const Ep& ep = p.ep;
  for (int64_t i = 0; i < p.M; ++i)
    for (int64_t j = 0; j < p.N; ++j) {
      float x = prod[i * p.N + j];
      if (ep.bias) x = x + p.bias[j];
      if (ep.relu) x = x > 0.0f ? x : 0.0f;
      if (saves(ep)) {
        const float a = activation_forward(ep.act, 0.2f, x);
        (*saved)[i * p.ldc + j] = backward_takes_output(ep.act) ? a : x;
        x = a;
      }
      if (ep.dropout) x = x * p.scale[i * p.ldc + j];
      if (ep.mask) x = activation_backward(ep.deriv, 0.2f, x, p.mask[i * p.ldc + j]);
      float& out = (*c)[i * p.ldc + j];
      if (ep.sgd) {
        // PyTorch's SGD: the gradient x of the weight out.
        float g = x;
        if (ep.weight_decay != 0.0f) g = g + ep.weight_decay * out;
        if (ep.momentum != 0.0f) {
          float& vel = (*v)[i * p.ldc + j];
          vel = ep.momentum * vel + g;
          g = ep.nesterov ? g + ep.momentum * vel : vel;
        }
        x = out - ep.lr * g;
      }
      out = x;
    }
}

// The engine's description of the product, over the buffers c and v (and bt, Bᵀ packed).
GemmOp make_op(const Problem& p, std::vector<float>* bt, std::vector<float>* c,
               std::vector<float>* v, std::vector<float>* saved) {
  GemmOp op;
  op.M = p.M, op.N = p.N, op.K = p.K;
  op.A = p.layout == Layout::kRows ? nullptr : p.a.data();  // rows: A itself is never read
  op.lda = p.lda;
  op.a_rows = p.layout == Layout::kRows ? p.rows.data() : nullptr;
  op.trans_a = p.shape == Shape::kTN;
  if (p.shape == Shape::kNT) {
    bt->assign(static_cast<size_t>(p.K * p.N), kNaN);
    transpose_rows(bt->data(), p.b.data(), p.N, p.K, p.ldb, 0, p.K);
    op.B = bt->data(), op.ldb = p.N;
  } else {
    op.B = p.b.data(), op.ldb = p.ldb;
  }
  op.C = c->data(), op.ldc = p.ldc;
  const Ep& ep = p.ep;
  op.ep.bias = ep.bias ? p.bias.data() : nullptr;
  op.ep.act = ep.relu ? Activation::kRelu : ep.act;
  op.ep.slope = 0.2f;
  op.ep.save = saves(ep) ? saved->data() : nullptr;
  op.ep.ldv = p.ldc;
  op.ep.scale = ep.dropout ? p.scale.data() : nullptr;
  op.ep.lds = p.ldc;
  op.ep.derivative = ep.deriv;
  op.ep.saved = ep.mask ? p.mask.data() : nullptr;
  op.ep.ldsv = p.ldc;
  op.ep.update = ep.sgd ? &p.rule : nullptr;
  op.ep.state[0] = ep.momentum != 0.0f ? v->data() : nullptr;
  op.ep.ldu = p.ldc;
  return op;
}

std::string describe(const Problem& p, const Kernels& k) {
  return std::string(k.name) + " " + name_of(p.shape) + " " + name_of(p.layout) + " " + p.ep.name +
         " M=" + std::to_string(p.M) + " N=" + std::to_string(p.N) + " K=" + std::to_string(p.K);
}

// How a product is run: the whole rectangle in one call, as four rectangles cut at places that
// are no multiple of any tile, or in chunks on a pool of `threads`.
enum class Run { kWhole, kPieces, kPool };

const char* name_of(Run r) {
  return r == Run::kWhole ? "whole" : r == Run::kPieces ? "in pieces" : "chunked";
}

void run(const Kernels& kernels, const GemmOp& op, Run how, int threads) {
  if (how == Run::kWhole) {
    kernels.gemm(op, 0, op.M, 0, op.N);
  } else if (how == Run::kPieces) {
    const int64_t is[] = {0, op.M / 3, op.M}, js[] = {0, op.N / 2 + 1, op.N};
    for (int r = 0; r < 2; ++r)
      for (int s = 0; s < 2; ++s)
        if (is[r] < is[r + 1] && js[s] < std::min(js[s + 1], op.N))
          kernels.gemm(op, is[r], is[r + 1], js[s], std::min(js[s + 1], op.N));
  } else {
    const GemmChunks chunks = gemm_chunks(kernels, op, threads);
    ThreadPool pool(threads, 1, chunks.count);
    auto work = [&](int, int64_t c) { gemm_chunk(kernels, op, chunks, c); };
    pool.run(1, &chunks.count, work);
  }
}

// Runs p on every path, every way in `hows` (and thread count in `threads`), and checks C
// and the velocities bit for bit, gaps included, against the reference.
void check(const Problem& p, const std::vector<Run>& hows, const std::vector<int>& threads) {
  std::vector<float> want_c[2], want_v[2], want_s[2];
  bool have[2] = {false, false};
  for (const Kernels* k : available_kernels()) {
    const int f = fuses(*k) ? 1 : 0;
    if (!have[f]) expected(p, f == 1, &want_c[f], &want_v[f], &want_s[f]), have[f] = true;
    for (Run how : hows)
      for (int t : threads) {
        std::vector<float> bt, c = p.c, v = p.v, saved = p.save;
        run(*k, make_op(p, &bt, &c, &v, &saved), how, t);
        INFO(describe(p, *k), " ", std::string(name_of(how)), " on ", t, " threads");
        const std::string dc = first_difference(c, want_c[f]);
        CHECK_MESSAGE(dc.empty(), "C: ", dc);
        const std::string dv = first_difference(v, want_v[f]);
        CHECK_MESSAGE(dv.empty(), "velocity: ", dv);
        const std::string ds = first_difference(saved, want_s[f]);
        CHECK_MESSAGE(ds.empty(), "saved: ", ds);
      }
  }
}

struct Size {
  int64_t M, N, K;
};

// Around the register tiles (avx512 8×32, avx2 6×16, generic 4×16), K past the depth of a k
// block (256) once and twice, 1 everywhere, and fewer rows than a tile across more columns
// than the wide tiles of such rows hold (up to 8 registers), K past a block there too.
const Size kSizes[] = {{1, 1, 1},     {1, 1, 7},     {1, 40, 3},   {3, 1, 300},
                       {2, 17, 2},    {5, 16, 16},   {7, 33, 31},  {8, 32, 257},
                       {9, 47, 13},   {13, 64, 5},   {17, 31, 97}, {29, 97, 41},
                       {31, 15, 513}, {1, 300, 300}, {3, 257, 40}, {6, 203, 9}};

TEST_CASE("the paths: the best this CPU runs first, generic last") {
  const std::vector<const Kernels*> paths = available_kernels();
  REQUIRE(!paths.empty());
  std::string names;
  for (const Kernels* k : paths) names += std::string(k->name) + (fuses(*k) ? " (fused) " : " ");
  MESSAGE("paths: ", names);
  CHECK(std::string(paths.back()->name) == "generic");
  // NANOMLP_KERNEL forces a path (how CI and users test the others); unset, the best is used.
  const char* forced = std::getenv("NANOMLP_KERNEL");
  CHECK(&select_kernels() == (forced && *forced ? &kernels_named(forced) : paths.front()));
  for (const Kernels* k : paths) {
    CHECK(&kernels_named(k->name) == k);
    CHECK(k->mr >= 1);
    CHECK(k->nr >= 1);
  }
  CHECK_THROWS_AS(kernels_named("sse9"), std::invalid_argument);
}

TEST_CASE("every path equals the reference bit for bit, whole and in pieces") {
  uint32_t seed = 1;
  for (const Size& s : kSizes)
    for (Shape shape : {Shape::kNN, Shape::kTN, Shape::kNT})
      for (Layout layout : {Layout::kPacked, Layout::kPadded, Layout::kRows})
        for (const Ep& ep : kEpilogues)
          check(make_problem(shape, layout, ep, s.M, s.N, s.K, seed++), {Run::kWhole, Run::kPieces},
                {1});
}

TEST_CASE("chunked on 1 to 4 threads, every path equals the reference bit for bit") {
  // Large enough to be cut into several chunks; N = 40 has fewer column tiles than threads.
  const Size sizes[] = {{97, 131, 67}, {64, 200, 96}, {300, 40, 64}, {130, 600, 9}};
  uint32_t seed = 1000;
  for (const Size& s : sizes)
    for (Shape shape : {Shape::kNN, Shape::kTN, Shape::kNT})
      for (const Ep& ep : {kForward, kMask, kAll})
        check(make_problem(shape, Layout::kRows, ep, s.M, s.N, s.K, seed++), {Run::kPool},
              {1, 2, 3, 4});
}

// The activations' epilogues: forward (bias, activation, its saved values, dropout) and
// backward (dropout, derivative from saved values), for each activation.
std::vector<Ep> activation_epilogues() {
  std::vector<Ep> eps;
  for (Activation act :
       {Activation::kIdentity, Activation::kRelu, Activation::kLeakyRelu, Activation::kTanh,
        Activation::kSigmoid, Activation::kGelu, Activation::kGeluTanh}) {
    Ep forward = {activation_name(act),
                  true,
                  act == Activation::kRelu,
                  false,
                  false,
                  0.0f,
                  0.0f,
                  0.0f,
                  false};
    forward.act = act == Activation::kRelu ? Activation::kIdentity : act;
    forward.dropout = true;
    eps.push_back(forward);
    Ep backward = {activation_name(act), false, false, true, false, 0.0f, 0.0f, 0.0f, false};
    backward.deriv = act;
    backward.dropout = true;
    eps.push_back(backward);
  }
  return eps;
}

TEST_CASE("the activations' epilogues: every path equals the reference and the scalar rules") {
  uint32_t seed = 500;
  const std::vector<Ep> eps = activation_epilogues();
  for (const Size& s : kSizes)
    for (Shape shape : {Shape::kNN, Shape::kNT})
      for (const Ep& ep : eps)
        check(make_problem(shape, Layout::kPadded, ep, s.M, s.N, s.K, seed++),
              {Run::kWhole, Run::kPieces}, {1});
  const Size big[] = {{97, 131, 67}, {300, 40, 64}};
  for (const Size& s : big)
    for (const Ep& ep : eps)
      check(make_problem(Shape::kNN, Layout::kRows, ep, s.M, s.N, s.K, seed++), {Run::kPool},
            {1, 2, 3});
}

// A stand-in kernel that counts how often each element of a 1000-column C is computed.
std::vector<int>* g_counts = nullptr;
void count_kernel(const GemmOp& op, int64_t i0, int64_t i1, int64_t j0, int64_t j1) {
  for (int64_t i = i0; i < i1; ++i)
    for (int64_t j = j0; j < j1; ++j) ++(*g_counts)[i * 1000 + j];
}

TEST_CASE("chunks: whole tiles, every element in exactly one, a bounded count") {
  for (const Kernels* k : available_kernels()) {
    const Kernels counting = {k->name, count_kernel,          k->mr,
                              k->nr,   k->activation_forward, k->activation_backward};
    for (const Size& s :
         {Size{97, 131, 67}, Size{64, 200, 96}, Size{300, 40, 64}, Size{130, 600, 9},
          Size{1, 1000, 1000}, Size{1000, 1, 1000}, Size{5, 7, 3}})
      for (int threads = 1; threads <= 8; ++threads) {
        GemmOp op;
        op.M = s.M, op.N = s.N, op.K = s.K;
        const GemmChunks chunks = gemm_chunks(counting, op, threads);
        INFO(std::string(k->name), " M=", s.M, " N=", s.N, " K=", s.K, " threads ", threads);
        CHECK(chunks.count >= 1);
        CHECK(chunks.count <= 2 * kChunksPerThread * threads);
        if (threads == 1) CHECK(chunks.count == 1);
        if (chunks.count > 1) {
          CHECK(chunks.rows % k->mr == 0);
          CHECK(chunks.cols % k->nr == 0);
        }
        std::vector<int> counts(static_cast<size_t>(s.M * 1000));
        g_counts = &counts;
        for (int64_t c = 0; c < chunks.count; ++c) gemm_chunk(counting, op, chunks, c);
        g_counts = nullptr;
        int wrong = 0;
        for (int64_t i = 0; i < s.M; ++i)
          for (int64_t j = 0; j < 1000; ++j) wrong += counts[i * 1000 + j] != (j < s.N ? 1 : 0);
        CHECK(wrong == 0);
      }
  }
  // The products the thread tests above use are cut for several threads.
  GemmOp op;
  op.M = 97, op.N = 131, op.K = 67;
  CHECK(gemm_chunks(*available_kernels().front(), op, 4).count > 1);
}

TEST_CASE("transpose_rows: any band of destination rows") {
  const int64_t K = 13, N = 21, lds = 24;
  const std::vector<float> src = matrix(K, N, lds, 7, kNaN);
  std::vector<float> dst(static_cast<size_t>(N * K), kUnwritten);
  transpose_rows(dst.data(), src.data(), K, N, lds, 0, 5);
  transpose_rows(dst.data(), src.data(), K, N, lds, 5, N);
  int wrong = 0;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k) wrong += bits(dst[n * K + k]) != bits(src[k * lds + n]);
  CHECK(wrong == 0);
}

TEST_CASE("the fused and unfused references differ, by rounding only") {
  const int64_t M = 9, N = 11, K = 200;
  const std::vector<float> a = random_floats(M * K, 3), b = random_floats(K * N, 4);
  std::vector<float> fused(M * N), unfused(M * N);
  reference::gemm_nn(M, N, K, a.data(), K, b.data(), N, fused.data(), N, true);
  reference::gemm_nn(M, N, K, a.data(), K, b.data(), N, unfused.data(), N, false);
  CHECK(!first_difference(fused, unfused).empty());
  for (int64_t i = 0; i < M * N; ++i)
    CHECK(std::abs(fused[i] - unfused[i]) <= 1e-4f * (1.0f + std::abs(unfused[i])));
}

}  // namespace
}  // namespace nanomlp::test
