// A few epochs of training from fixed seeds, whose final parameters and optimizer state are
// written, byte for byte, to the file named on the command line. The kernel path is the one
// NANOMLP_KERNEL names (else the best this CPU runs). Built for x86-64 and for AArch64, and run
// on every path of each, it shows that the bits do not depend on the architecture (.ci/arm64
// compares the files): the inputs come from integer arithmetic only, so they are the same
// everywhere, and what follows is the engine's own rounding.
#include <cstdint>
#include <cstdio>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include "nanomlp/network.h"

namespace {

using nanomlp::Activation;
using nanomlp::EpochOptions;
using nanomlp::Network;
using nanomlp::OptimizerConfig;
using nanomlp::OptimizerKind;

// splitmix64: the same sequence on every platform, unlike the standard distributions.
struct Random {
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [lo, hi): 24 random bits scaled exactly, then one rounding of each operation.
  float uniform(float lo, float hi) {
    const float u = static_cast<float>(next() >> 40) * (1.0f / 16777216.0f);
    return lo + (hi - lo) * u;
  }
};

struct Case {
  const char* name;
  std::vector<int64_t> sizes;
  std::vector<Activation> activations;
  OptimizerConfig optimizer;
  bool dropout, weights;
  double clip_value, clip_norm;
};

// Trains one case for three epochs and appends its parameters and state to out.
void run(const Case& c, std::vector<float>* out) {
  const int64_t rows = 192, batch = 32, epochs = 3;
  const int64_t inputs = c.sizes.front(), classes = c.sizes.back();
  Random rng{0x5EED0000ull + c.sizes.size()};
  std::vector<float> x(rows * inputs);
  for (float& v : x) v = rng.uniform(0.0f, 1.0f);
  std::vector<int32_t> labels(rows);
  for (int32_t& y : labels) y = static_cast<int32_t>(rng.next() % static_cast<uint64_t>(classes));
  std::vector<float> weights(rows);
  for (float& w : weights) w = rng.uniform(0.0f, 2.0f);
  // Not every row, and not in order.
  std::vector<int64_t> order(rows);
  std::iota(order.begin(), order.end(), 0);
  for (int64_t i = rows - 1; i > 0; --i)
    std::swap(order[i], order[rng.next() % static_cast<uint64_t>(i + 1)]);
  const int64_t visited = rows - 23;

  Network net(c.sizes, batch, 2, c.activations);
  std::vector<float> params(net.num_params());
  for (float& p : params) p = rng.uniform(-0.3f, 0.3f);
  std::vector<float> state(3 * net.num_params(), 0.0f);
  float* slots[3] = {state.data(), state.data() + net.num_params(),
                     state.data() + 2 * net.num_params()};
  const int64_t steps = (visited + batch - 1) / batch;
  std::vector<double> lr(steps);
  for (int64_t i = 0; i < steps; ++i) lr[i] = 0.02 / (1.0 + 0.1 * static_cast<double>(i));
  std::vector<double> rates(c.sizes.size() - 2);
  for (size_t l = 0; l < rates.size(); ++l) rates[l] = 0.2 + 0.1 * static_cast<double>(l);

  EpochOptions e;
  e.lr = lr.data();
  e.sample_weight = c.weights ? weights.data() : nullptr;
  e.dropout = c.dropout ? rates.data() : nullptr;
  e.dropout_seed = 1234;
  e.clip_value = c.clip_value, e.clip_norm = c.clip_norm;
  for (int64_t epoch = 0; epoch < epochs; ++epoch) {
    e.step = epoch * steps, e.first_step = static_cast<uint64_t>(epoch * steps);
    net.train_epoch(params.data(), slots, x.data(), labels.data(), order.data(), visited,
                    c.optimizer, e, {});
  }
  std::fprintf(stderr, "golden: %s on %s\n", c.name, net.kernel());
  out->insert(out->end(), params.begin(), params.end());
  out->insert(out->end(), state.begin(), state.end());
}

// Every activation and its derivative, on the path's array kernels, at the values where
// min, max, the comparisons and the conversions must match x86's exactly: NaN, ±0, ±inf,
// subnormals, the clamps' edges. Appended to out. Not leaky_relu with slope 0: its −inf·0 is
// a NaN made by the CPU, 0xFFC00000 on x86 and 0x7FC00000 on Arm, and it passes NaN through.
void special_values(std::vector<float>* out) {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float tiny = std::numeric_limits<float>::denorm_min();
  const std::vector<float> z = {0.0f,  -0.0f,  nan,     -nan,  inf,   -inf,  tiny,
                                -tiny, 1e-30f, -1e-30f, 9.0f,  -9.0f, 10.5f, -10.5f,
                                36.0f, -88.0f, -87.5f,  88.0f, -6.5f, 0.5f,  -0.75f,
                                3e38f, -3e38f, 1.25f,   -2.5f, 7.0f,  -1e-5f};
  std::vector<float> g(z.size());
  for (size_t i = 0; i < z.size(); ++i) g[i] = i % 3 == 0 ? -1.5f : i % 3 == 1 ? 0.25f : 3.0f;
  const nanomlp::Kernels& k = nanomlp::select_kernels();
  const int64_t n = static_cast<int64_t>(z.size());
  std::vector<float> a(z.size()), d(z.size());
  for (int act = 0; act <= static_cast<int>(Activation::kGeluTanh); ++act) {
    for (float slope : {nanomlp::kDefaultLeakySlope, 0.5f}) {
      k.activation_forward(static_cast<Activation>(act), slope, z.data(), a.data(), n);
      k.activation_backward(static_cast<Activation>(act), slope, g.data(), z.data(), d.data(), n);
      out->insert(out->end(), a.begin(), a.end());
      out->insert(out->end(), d.begin(), d.end());
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUTPUT\n", argv[0]);
    return 2;
  }
  OptimizerConfig adam;
  adam.kind = OptimizerKind::kAdam, adam.weight_decay = 1e-2, adam.decoupled = true;
  OptimizerConfig amsgrad;
  amsgrad.kind = OptimizerKind::kAdam, amsgrad.weight_decay = 1e-3, amsgrad.amsgrad = true;
  OptimizerConfig rms;
  rms.kind = OptimizerKind::kRmsprop, rms.momentum = 0.5, rms.centered = true;
  OptimizerConfig sgd;
  sgd.kind = OptimizerKind::kSgd, sgd.momentum = 0.9, sgd.nesterov = true;
  sgd.weight_decay = 1e-4;
  // Widths that leave partial tiles on every path (12, 16, 32 columns; 4 to 8 rows).
  const std::vector<Case> cases = {
      {"adamw, tanh and gelu, dropout",
       {50, 37, 21, 10},
       {Activation::kTanh, Activation::kGelu},
       adam,
       true,
       true,
       0.0,
       0.0},
      {"adam amsgrad, gelu_tanh, clip_norm",
       {33, 29, 10},
       {Activation::kGeluTanh},
       amsgrad,
       true,
       false,
       0.0,
       0.5},
      {"rmsprop, sigmoid, leaky_relu and tanh, clip_value",
       {40, 26, 19, 13, 10},
       {Activation::kSigmoid, Activation::kLeakyRelu, Activation::kTanh},
       rms,
       true,
       true,
       0.05,
       0.0},
      {"sgd nesterov, relu", {61, 45, 10}, {Activation::kRelu}, sgd, false, true, 0.0, 0.0},
  };
  std::vector<float> out;
  for (const Case& c : cases) run(c, &out);
  special_values(&out);
  std::FILE* f = std::fopen(argv[1], "wb");
  if (!f || std::fwrite(out.data(), sizeof(float), out.size(), f) != out.size() ||
      std::fclose(f) != 0) {
    std::perror(argv[1]);
    return 1;
  }
  return 0;
}
