// The optimizers' element updates against plain loops written here from the NumPy reference
// (reference.sgd_update, adam_update, rmsprop_update), on the scalar rule and on every SIMD
// path's fused epilogue; dropout masks against values of the Python recipe; the clip norm's
// accumulation order; and a Network epoch with Adam, dropout, sample weights and clipping,
// bit-identical on every path and thread count.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "nanomlp/gemm.h"
#include "nanomlp/network.h"
#include "nanomlp/optim.h"
#include "util.h"

namespace nanomlp::test {
namespace {

// ---- Plain loops: one float32 operation per line of the reference -----------------------------

struct Plain {
  OptimizerConfig c;
  double lr;
  int64_t t;  // the update's number, from 1
  bool weights;

  float f(double x) const { return static_cast<float>(x); }
  bool decays() const { return weights && c.weight_decay != 0.0; }

  // _flush_tiny_(state)
  static float flush(float x) { return std::fabs(x) < 0x1p-100f ? 0.0f : x; }

  // _lerp_(start, end, weight)
  float lerp(float start, float end, double weight) const {
    const float w = f(weight);
    if (std::fabs(w) < 0.5f) return start + w * (end - start);
    return end - (end - start) * (1.0f - w);
  }

  void sgd(float& p, float grad, float* s) const {
    float g = grad;
    if (decays()) g = g + f(c.weight_decay) * p;
    if (c.momentum != 0.0) {
      float& buf = s[0];
      if (t == 1) {
        buf = g;
      } else {
        buf = buf * f(c.momentum);
        buf = buf + g;
      }
      buf = flush(buf);
      g = c.nesterov ? g + f(c.momentum) * buf : buf;
    }
    p = p + f(-lr) * g;
  }

  void adam(float& p, float grad, float* s) const {
    float g = grad;
    if (decays()) {
      if (c.decoupled)
        p = p * f(1 - lr * c.weight_decay);
      else
        g = g + f(c.weight_decay) * p;
    }
    float &exp_avg = s[0], &exp_avg_sq = s[1], &max_exp_avg_sq = s[2];
    exp_avg = flush(lerp(exp_avg, g, 1 - c.beta1));
    exp_avg_sq = exp_avg_sq * f(c.beta2);
    exp_avg_sq = flush(exp_avg_sq + (f(1 - c.beta2) * g) * g);
    const double bias_correction1 = 1 - std::pow(c.beta1, static_cast<double>(t));
    const double bias_correction2 = 1 - std::pow(c.beta2, static_cast<double>(t));
    const double step_size = lr / bias_correction1;
    const double inv_bias_correction2_sqrt = 1 / std::pow(bias_correction2, 0.5);
    float second = exp_avg_sq;
    if (c.amsgrad) {
      max_exp_avg_sq = flush(std::max(max_exp_avg_sq, exp_avg_sq));
      second = max_exp_avg_sq;
    }
    float denom = std::sqrt(second) * f(inv_bias_correction2_sqrt);
    denom = denom + f(c.eps);
    p = p + (f(-step_size) * exp_avg) / denom;
  }

  void rmsprop(float& p, float grad, float* s) const {
    float g = grad;
    if (decays()) g = g + f(c.weight_decay) * p;
    float &square_avg = s[0], &buf = s[1], &grad_avg = s[2];
    square_avg = square_avg * f(c.alpha);
    square_avg = flush(square_avg + (f(1 - c.alpha) * g) * g);
    float avg;
    if (c.centered) {
      grad_avg = flush(lerp(grad_avg, g, 1 - c.alpha));
      avg = std::sqrt(square_avg + (-1.0f * grad_avg) * grad_avg);
    } else {
      avg = std::sqrt(square_avg);
    }
    avg = avg + f(c.eps);
    if (c.momentum > 0) {
      buf = buf * f(c.momentum);
      buf = flush(buf + (1.0f * g) / avg);
      p = p + f(-lr) * buf;
    } else {
      p = p + (f(-lr) * g) / avg;
    }
  }

  void operator()(float& p, float grad, float* s) const {
    switch (c.kind) {
      case OptimizerKind::kSgd: sgd(p, grad, s); break;
      case OptimizerKind::kAdam: adam(p, grad, s); break;
      case OptimizerKind::kRmsprop: rmsprop(p, grad, s); break;
    }
  }
};

struct Case {
  const char* name;
  OptimizerConfig c;
};

std::vector<Case> cases() {
  std::vector<Case> out;
  OptimizerConfig c;
  c.kind = OptimizerKind::kSgd;
  out.push_back({"sgd", c});
  c.momentum = 0.9, c.weight_decay = 1e-3;
  out.push_back({"sgd+momentum+decay", c});
  c.nesterov = true;
  out.push_back({"sgd+nesterov", c});
  c = OptimizerConfig();
  c.kind = OptimizerKind::kAdam;
  out.push_back({"adam", c});
  c.weight_decay = 1e-2, c.amsgrad = true;
  out.push_back({"adam+decay+amsgrad", c});
  c.decoupled = true;
  out.push_back({"adamw+amsgrad", c});
  c.beta1 = 0.3, c.beta2 = 0.5, c.amsgrad = false;  // 1 − β1 ≥ 0.5: lerp's other formula
  out.push_back({"adamw, small betas", c});
  c = OptimizerConfig();
  c.kind = OptimizerKind::kRmsprop;
  out.push_back({"rmsprop", c});
  c.momentum = 0.5, c.weight_decay = 1e-3;
  out.push_back({"rmsprop+momentum+decay", c});
  c.centered = true;
  out.push_back({"rmsprop centered", c});
  c.alpha = 0.3;  // 1 − α ≥ 0.5
  out.push_back({"rmsprop centered, small alpha", c});
  return out;
}

TEST_CASE("each optimizer's element update equals the plain loop bit for bit") {
  constexpr int64_t n = 257;
  for (const Case& k : cases()) {
    for (const bool weights : {true, false}) {
      std::vector<float> p = random_floats(n, 1), want_p = p;
      std::vector<float> s(3 * n), want_s(3 * n);
      // Square averages are non-negative; the others any sign.
      for (int64_t i = 0; i < n; ++i) {
        const float a = random_floats(1, 100 + i)[0];
        s[3 * i] = k.c.kind == OptimizerKind::kRmsprop ? a * a : a;
        s[3 * i + 1] = k.c.kind == OptimizerKind::kAdam ? a * a * 0.5f : a;
        s[3 * i + 2] = k.c.kind == OptimizerKind::kAdam ? a * a : a * 0.1f;
      }
      want_s = s;
      for (int64_t t = 1; t <= 4; ++t) {
        const double lr = 0.01 / static_cast<double>(t);
        const std::vector<float> g = random_floats(n, 10 + t, -0.1f, 0.1f);
        const UpdateRule u = make_rule(k.c, lr, t, weights, 0.0);
        const Plain plain{k.c, lr, t, weights};
        for (int64_t i = 0; i < n; ++i) {
          p[i] = apply_update(u, p[i], g[i], &s[3 * i]);
          plain(want_p[i], g[i], &want_s[3 * i]);
        }
      }
      INFO(k.name, weights ? " (weights)" : " (biases)");
      CHECK_MESSAGE(first_difference(p, want_p).empty(), first_difference(p, want_p));
      CHECK_MESSAGE(first_difference(s, want_s).empty(), first_difference(s, want_s));
      CHECK_MESSAGE(first_difference(p, random_floats(n, 1)) != "", "the update changed nothing");
    }
  }
}

TEST_CASE("clip_value clamps the gradient before the update, NaN stays NaN") {
  OptimizerConfig c;
  const UpdateRule u = make_rule(c, 1.0, 1, true, 0.5);
  float s[3] = {};
  CHECK(apply_update(u, 0.0f, 3.0f, s) == -0.5f);
  CHECK(apply_update(u, 0.0f, -3.0f, s) == 0.5f);
  CHECK(apply_update(u, 0.0f, 0.25f, s) == -0.25f);
  CHECK(std::isnan(apply_update(u, 0.0f, std::nanf(""), s)));
}

// Every path's fused epilogue: dW = Xᵀ·dZ then the update, against the reference product and
// the scalar rule, over shapes with full tiles and tails; with normal numbers, and with tiny
// and subnormal ones (which the state flushes to zero, on every path alike).
TEST_CASE("the fused update on every kernel path equals the scalar rule bit for bit") {
  const int64_t M = 37, N = 45, K = 19;  // K rows of X and dZ; W is M×N
  for (const bool tiny : {false, true}) {
    std::vector<float> a = random_floats(K * M, 21), b = random_floats(K * N, 22);
    if (tiny)  // gradients from 1e-30 down to subnormal, in some lanes
      for (int64_t i = 0; i < K * N; ++i)
        if (i % 3 == 0) b[i] *= i % 2 ? 1e-30f : 1e-36f;
    for (const Kernels* kernels : available_kernels()) {
      std::vector<float> prod(M * N);
      reference::gemm_tn(M, N, K, a.data(), M, b.data(), N, prod.data(), N, fuses(*kernels));
      for (const Case& k : cases()) {
        const UpdateRule u = make_rule(k.c, 0.003, 3, true, 0.0);
        std::vector<float> w = random_floats(M * N, 23), want_w = w;
        std::vector<float> st[3], want_st[3];
        for (int s = 0; s < 3; ++s) {
          st[s] = random_floats(M * N, 24 + s, 0.0f, 0.01f);
          if (tiny)  // subnormal, tiny and zero states
            for (int64_t i = 0; i < M * N; ++i)
              st[s][i] *= i % 5 == 0 ? 1e-37f : i % 5 == 1 ? 1e-20f : i % 5 == 2 ? 0.0f : 1.0f;
          want_st[s] = st[s];
        }
        for (int64_t i = 0; i < M * N; ++i) {
          float v[3] = {want_st[0][i], want_st[1][i], want_st[2][i]};
          want_w[i] = apply_update(u, want_w[i], prod[i], v);
          for (int s = 0; s < 3; ++s) want_st[s][i] = v[s];
        }
        GemmOp op;
        op.M = M, op.N = N, op.K = K;
        op.A = a.data(), op.lda = M, op.trans_a = true;
        op.B = b.data(), op.ldb = N;
        op.C = w.data(), op.ldc = N;
        op.ep.update = &u;
        for (int s = 0; s < 3; ++s) op.ep.state[s] = st[s].data();
        op.ep.ldu = N;
        kernels->gemm(op, 0, M, 0, N);
        INFO(kernels->name, " ", k.name, tiny ? " (tiny numbers)" : "");
        CHECK_MESSAGE(first_difference(w, want_w).empty(), first_difference(w, want_w));
        for (int s = 0; s < 3; ++s)
          CHECK_MESSAGE(first_difference(st[s], want_st[s]).empty(),
                        first_difference(st[s], want_st[s]));
      }
    }
  }
}

TEST_CASE("dropout masks are the Python recipe's") {
  // Produced by python/nanomlp/dropout.py:
  //   dropout_bits(7, 3, np.array([0, 5, 1000]), 4, 1)                   (seed, step, rows, units,
  //   layer) dropout_mask(7, 3, np.array([0, 5, 1000]), 4, 0.5, 1) dropout_mask(2**64 - 1, 2**40,
  //   np.array([123456789]), 6, 0.3, 2)
  const uint64_t bits[3][4] = {
      {0x7013224B99D9C85Aull, 0x7E6BEC3A07B504BDull, 0x86BBD937EEFFC0CAull, 0x7E46CCC78B23766Aull},
      {0xD993D95C42C7E169ull, 0x1498648E4EC2FC76ull, 0xB4F0D9C5D4645F1Aull, 0x3D0E77805B3BE520ull},
      {0xC52644E0B5B18A69ull, 0x63E1E555F9A58A89ull, 0x36E7B0C587A9FC49ull, 0x00101CA56CFA582Full}};
  const float half[3][4] = {{0, 0, 2, 0}, {2, 0, 2, 0}, {2, 0, 0, 0}};
  const uint64_t rows[3] = {0, 5, 1000};
  for (int r = 0; r < 3; ++r) {
    const uint64_t key = dropout_row_key(7, 1, 3, rows[r]);
    float mask[4];
    dropout_row(mask, key, 4, 0.5f, 2.0f);
    for (int j = 0; j < 4; ++j) {
      CHECK(absorb(key, static_cast<uint64_t>(j)) == bits[r][j]);
      CHECK(mask[j] == half[r][j]);
    }
  }
  const float scale = 1.0f / static_cast<float>(1.0 - 0.3);
  CHECK(scale == 1.4285715f);  // np.float32(1) / np.float32(1 - 0.3)
  float mask[6];
  dropout_row(mask, dropout_row_key(~0ull, 2, 1ull << 40, 123456789), 6, 0.3f, scale);
  const float want[6] = {0, scale, scale, 0, scale, scale};
  for (int j = 0; j < 6; ++j) CHECK(mask[j] == want[j]);
}

TEST_CASE("the clip norm sums in the fixed order: entry i in lane i % 8, then the lanes") {
  // grad_norm of these (python/nanomlp/clipping.py) is 0x1.bf4ca286faa17p+23; a plain sum of
  // the squares from the first to the last gives 0x1.bf4ca286faa16p+23 instead.
  const std::vector<float> g = {176405.234375f,
                                40015.72265625f,
                                9.787379531189799e-05f,
                                2240893.25f,
                                1.8675580024719238f,
                                -977.2778930664062f,
                                0.09500884264707565f,
                                -1513572.125f,
                                -0.0010321885347366333f,
                                410.5985107421875f,
                                14404357.0f,
                                0.014542735181748867f,
                                7.610377360833809e-05f,
                                1.2167502063675784e-05f,
                                0.44386324286460876f,
                                3.3367433547973633f,
                                14.940791130065918f,
                                -20.515827178955078f,
                                3130.677001953125f};
  double lanes[kNormLanes] = {};
  accumulate_squares(lanes, g.data(), 7, 0);  // in two calls, as tensors follow each other
  accumulate_squares(lanes, g.data() + 7, static_cast<int64_t>(g.size()) - 7, 7);
  CHECK(lanes_norm(lanes) == 0x1.bf4ca286faa17p+23);
  double plain = 0.0;
  for (float x : g) plain += static_cast<double>(x) * x;
  CHECK(std::sqrt(plain) == 0x1.bf4ca286faa16p+23);  // the order matters for these numbers
  CHECK(clip_coefficient(lanes_norm(lanes), 1e9) == 1.0f);
  CHECK(clip_coefficient(4.0, 1.0) == static_cast<float>(1.0 / (4.0 + 1e-6)));
}

// ---- A Network epoch ------------------------------------------------------------------------

struct EpochCase {
  const char* name;
  OptimizerConfig c;
  bool weights, dropout;
  double clip_value, clip_norm;
};

std::vector<float> run_epochs(const EpochCase& k, const std::vector<int64_t>& sizes, int threads,
                              std::vector<float>* state_out) {
  const int64_t rows = 300, visited = 200, batch = 64;
  const std::vector<float> x = random_floats(rows * sizes.front(), 31, 0.0f, 1.0f);
  std::vector<int32_t> labels(rows);
  std::mt19937 rng(32);
  for (int32_t& y : labels) y = static_cast<int32_t>(rng() % sizes.back());
  std::vector<int64_t> order(rows);
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), rng);
  order.resize(visited);
  const std::vector<float> weights = random_floats(rows, 33, 0.0f, 2.0f);
  Network net(sizes, batch, threads);
  std::vector<float> params = random_floats(net.num_params(), 34, -0.2f, 0.2f);
  std::vector<float> state(3 * net.num_params(), 0.0f);
  float* slots[3] = {state.data(), state.data() + net.num_params(),
                     state.data() + 2 * net.num_params()};
  const int64_t steps = (visited + batch - 1) / batch;
  std::vector<double> lr(steps);
  for (int64_t i = 0; i < steps; ++i) lr[i] = 0.01 / (1.0 + static_cast<double>(i));
  std::vector<double> rates(sizes.size() - 2);
  for (size_t l = 0; l < rates.size(); ++l) rates[l] = l == 1 ? 0.0 : 0.25 + 0.1 * l;
  EpochOptions e;
  e.lr = lr.data();
  e.sample_weight = k.weights ? weights.data() : nullptr;
  e.dropout = k.dropout ? rates.data() : nullptr;
  e.dropout_seed = 99;
  e.clip_value = k.clip_value, e.clip_norm = k.clip_norm;
  for (int epoch = 0; epoch < 2; ++epoch) {
    e.step = epoch * steps, e.first_step = static_cast<uint64_t>(epoch * steps);
    CHECK(net.train_epoch(params.data(), slots, x.data(), labels.data(), order.data(), visited, k.c,
                          e, {}) == steps);
  }
  *state_out = state;
  return params;
}

TEST_CASE(
    "an epoch with Adam, RMSprop, dropout, sample weights and clipping is bit-identical "
    "on every path and thread count") {
  const std::vector<int64_t> sizes = {200, 96, 40, 33, 10};
  OptimizerConfig adam;
  adam.kind = OptimizerKind::kAdam, adam.weight_decay = 1e-2, adam.decoupled = true;
  adam.amsgrad = true;
  OptimizerConfig rms;
  rms.kind = OptimizerKind::kRmsprop, rms.momentum = 0.5, rms.centered = true;
  const EpochCase epoch_cases[] = {
      {"adamw, dropout, weights, clip_value and clip_norm", adam, true, true, 0.05, 0.5},
      {"adamw, dropout, clip_value (fused)", adam, false, true, 0.05, 0.0},
      {"rmsprop, dropout, weights (fused)", rms, true, true, 0.0, 0.0},
  };
  for (const EpochCase& k : epoch_cases) {
    std::vector<float> want[2], want_state[2];
    bool have[2] = {false, false};
    for (const Kernels* kernels : available_kernels()) {
      const int f = fuses(*kernels) ? 1 : 0;
      const KernelOverride path(kernels->name);
      for (int threads = 1; threads <= 4; ++threads) {
        INFO(k.name, ", path ", kernels->name, ", threads ", threads);
        std::vector<float> state;
        const std::vector<float> params = run_epochs(k, sizes, threads, &state);
        if (!have[f]) {
          want[f] = params, want_state[f] = state, have[f] = true;
          continue;
        }
        CHECK_MESSAGE(first_difference(params, want[f]).empty(), first_difference(params, want[f]));
        CHECK_MESSAGE(first_difference(state, want_state[f]).empty(),
                      first_difference(state, want_state[f]));
      }
    }
  }
}

TEST_CASE("the clip_norm path updates as the fused epilogue when the norm does not clip") {
  // A coefficient of exactly 1 leaves every gradient as it is, so the separate update pass
  // must give the fused update's bits.
  const std::vector<int64_t> sizes = {200, 96, 40, 33, 10};
  OptimizerConfig adam;
  adam.kind = OptimizerKind::kAdam, adam.weight_decay = 1e-3;
  for (const Kernels* kernels : available_kernels()) {
    const KernelOverride path(kernels->name);
    INFO(kernels->name);
    std::vector<float> fused_state, unfused_state;
    const std::vector<float> fused =
        run_epochs({"fused", adam, true, true, 0.05, 0.0}, sizes, 2, &fused_state);
    const std::vector<float> unfused =
        run_epochs({"unfused", adam, true, true, 0.05, 1e30}, sizes, 2, &unfused_state);
    CHECK_MESSAGE(first_difference(fused, unfused).empty(), first_difference(fused, unfused));
    CHECK_MESSAGE(first_difference(fused_state, unfused_state).empty(),
                  first_difference(fused_state, unfused_state));
  }
}

// One epoch of Adam over `visited` rows of a fixed problem, on a Network whose large-step
// limits are (poll_flops, unfused_flops); stop_after > 0: should_stop says stop on its
// stop_after-th call. Returns the parameters and sets *steps to the steps taken.
std::vector<float> stopped_epoch(int64_t visited, int64_t poll_flops, int64_t unfused_flops,
                                 int threads, int stop_after, int64_t* steps) {
  const std::vector<int64_t> sizes = {50, 40, 30, 10};
  const int64_t rows = 160, batch = 32;
  const std::vector<float> x = random_floats(rows * sizes.front(), 41, 0.0f, 1.0f);
  std::vector<int32_t> labels(rows);
  for (int64_t i = 0; i < rows; ++i) labels[i] = static_cast<int32_t>((i * 7) % sizes.back());
  std::vector<int64_t> order(rows);
  std::iota(order.begin(), order.end(), 0);
  Network net(sizes, batch, threads);
  net.set_large_step(poll_flops, unfused_flops);
  std::vector<float> params = random_floats(net.num_params(), 42, -0.2f, 0.2f);
  std::vector<float> state(3 * net.num_params(), 0.0f);
  float* slots[3] = {state.data(), state.data() + net.num_params(),
                     state.data() + 2 * net.num_params()};
  OptimizerConfig adam;
  adam.kind = OptimizerKind::kAdam, adam.weight_decay = 1e-2, adam.decoupled = true;
  EpochOptions e;
  e.constant_lr = 0.01;
  int calls = 0;
  const std::function<bool()> stop = [&] { return ++calls == stop_after; };
  *steps = net.train_epoch(params.data(), slots, x.data(), labels.data(), order.data(), visited,
                           adam, e, stop_after > 0 ? stop : std::function<bool()>());
  params.insert(params.end(), state.begin(), state.end());
  return params;
}

TEST_CASE("a large step's separate update equals the fused one, on every path") {
  for (const Kernels* kernels : available_kernels()) {
    const KernelOverride path(kernels->name);
    for (int threads = 1; threads <= 3; ++threads) {
      INFO(kernels->name, ", threads ", threads);
      int64_t fused_steps = 0, unfused_steps = 0;
      const std::vector<float> fused =
          stopped_epoch(160, 1, int64_t{1} << 62, threads, 0, &fused_steps);
      const std::vector<float> unfused = stopped_epoch(160, 1, 1, threads, 0, &unfused_steps);
      CHECK(fused_steps == 5);
      CHECK(unfused_steps == 5);
      CHECK_MESSAGE(first_difference(fused, unfused).empty(), first_difference(fused, unfused));
    }
  }
}

TEST_CASE("a step stopped before it writes the parameters is abandoned whole") {
  // Stopped on the n-th look at should_stop, wherever that falls (between steps or between a
  // large step's chunks), the epoch leaves the parameters and state of its whole steps.
  for (const int64_t unfused_flops : {int64_t{1}, int64_t{1} << 62}) {
    for (int threads = 1; threads <= 2; ++threads) {
      for (int n = 1; n <= 40; ++n) {
        INFO("unfused ", unfused_flops == 1, ", threads ", threads, ", stop on look ", n);
        int64_t steps = 0, whole_steps = 0;
        const std::vector<float> stopped = stopped_epoch(160, 1, unfused_flops, threads, n, &steps);
        REQUIRE(steps <= 5);
        const std::vector<float> whole =
            stopped_epoch(steps * 32, 1, unfused_flops, threads, 0, &whole_steps);
        CHECK(whole_steps == steps);
        CHECK_MESSAGE(first_difference(stopped, whole).empty(), first_difference(stopped, whole));
      }
    }
  }
}

TEST_CASE("an optimizer without its state arrays is refused") {
  Network net({4, 3, 2}, 2);
  std::vector<float> params(net.num_params()), s(net.num_params());
  const std::vector<float> x(8);
  const std::vector<int32_t> labels(2);
  const std::vector<int64_t> order = {0, 1};
  OptimizerConfig adam;
  adam.kind = OptimizerKind::kAdam;
  float* only_first[3] = {s.data(), nullptr, nullptr};
  CHECK_THROWS_AS(net.train_epoch(params.data(), only_first, x.data(), labels.data(), order.data(),
                                  2, adam, EpochOptions(), {}),
                  std::invalid_argument);
}

}  // namespace
}  // namespace nanomlp::test
