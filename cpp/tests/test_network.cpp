// The Network against a plain-loop MLP written here, operation for operation as the engine's
// contract states it: each product element one chain of multiply-adds over k in order (fused
// on the paths that fuse), bias after the product, softmax and cross-entropy row by row, the
// bias gradient summed row after row, PyTorch's SGD rounded step by step. So training steps,
// gradients and predictions must match bit for bit, on every path and for 1 to 4 threads.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "nanomlp/gemm.h"
#include "nanomlp/network.h"
#include "util.h"

namespace nanomlp::test {
namespace {

// ---- The plain-loop MLP ----------------------------------------------------------------------

class PlainMlp {
 public:
  PlainMlp(std::vector<int64_t> sizes, bool fused) : sizes_(std::move(sizes)), fused_(fused) {
    int64_t offset = 0;
    for (size_t l = 0; l + 1 < sizes_.size(); ++l) {
      w_.push_back(offset);
      offset += sizes_[l] * sizes_[l + 1];
      b_.push_back(offset);
      offset += sizes_[l + 1];
    }
    num_params_ = offset;
  }

  int64_t num_params() const { return num_params_; }

  // Row losses, hits, probabilities [B×C] and the gradient of the mean loss (grads, when not
  // null) of the rows x[rows[i]] (labels may be null: no loss, no gradient).
  struct Pass {
    std::vector<float> probs;
    std::vector<double> loss;
    std::vector<int> hit;
  };
  Pass run(const float* params, const float* x, const int32_t* labels,
           const std::vector<int64_t>& rows, std::vector<float>* grads) const {
    const int64_t L = layers(), B = static_cast<int64_t>(rows.size()), C = sizes_[L];
    // acts[l]: [B×sizes[l]], acts[0] the input rows.
    std::vector<std::vector<float>> acts(L + 1);
    acts[0].resize(B * sizes_[0]);
    for (int64_t i = 0; i < B; ++i)
      std::copy(x + rows[i] * sizes_[0], x + (rows[i] + 1) * sizes_[0], &acts[0][i * sizes_[0]]);
    for (int64_t l = 0; l < L; ++l) {
      const int64_t K = sizes_[l], N = sizes_[l + 1];
      const float* W = params + w_[l];
      const float* b = params + b_[l];
      acts[l + 1].resize(B * N);
      for (int64_t i = 0; i < B; ++i)
        for (int64_t n = 0; n < N; ++n) {
          float z = 0.0f;
          for (int64_t k = 0; k < K; ++k) z = madd(acts[l][i * K + k], W[k * N + n], z);
          z = z + b[n];
          if (l + 1 < L) z = z > 0.0f ? z : 0.0f;
          acts[l + 1][i * N + n] = z;
        }
    }
    Pass pass;
    pass.probs = acts[L];
    pass.loss.resize(B);
    pass.hit.resize(B);
    std::vector<float> delta(B * C);  // dLoss/dZ of the current layer
    for (int64_t i = 0; i < B; ++i) {
      float* p = &pass.probs[i * C];
      const float* z = &acts[L][i * C];
      int64_t arg = 0;
      for (int64_t j = 1; j < C; ++j)
        if (z[j] > z[arg]) arg = j;
      const float zmax = z[arg];
      float sum = 0.0f;
      for (int64_t j = 0; j < C; ++j) {
        p[j] = std::exp(z[j] - zmax);
        sum = sum + p[j];
      }
      for (int64_t j = 0; j < C; ++j) p[j] = p[j] / sum;
      if (!labels) continue;
      const int32_t y = labels[rows[i]];
      // −log p_y as log Σ − (z_y − z_max), capped where the reference clips p at 1e-10.
      const double cap = -std::log(static_cast<double>(1e-10f));
      pass.loss[i] =
          std::min(std::log(static_cast<double>(sum)) - (static_cast<double>(z[y]) - zmax), cap);
      pass.hit[i] = arg == y;
      for (int64_t j = 0; j < C; ++j)
        delta[i * C + j] = (p[j] - (j == y ? 1.0f : 0.0f)) / static_cast<float>(B);
    }
    if (!grads || !labels) return pass;
    grads->assign(num_params_, 0.0f);
    for (int64_t l = L - 1; l >= 0; --l) {
      const int64_t K = sizes_[l], N = sizes_[l + 1];
      const std::vector<float>& a = acts[l];
      float* dW = grads->data() + w_[l];
      float* db = grads->data() + b_[l];
      for (int64_t k = 0; k < K; ++k)
        for (int64_t n = 0; n < N; ++n) {
          float g = 0.0f;
          for (int64_t i = 0; i < B; ++i) g = madd(a[i * K + k], delta[i * N + n], g);
          dW[k * N + n] = g;
        }
      for (int64_t n = 0; n < N; ++n) {
        float g = 0.0f;
        for (int64_t i = 0; i < B; ++i) g = g + delta[i * N + n];
        db[n] = g;
      }
      if (l == 0) break;
      // Through W (as it was before this step's update) and the ReLU below.
      const float* W = params + w_[l];
      std::vector<float> below(B * K);
      for (int64_t i = 0; i < B; ++i)
        for (int64_t k = 0; k < K; ++k) {
          float g = 0.0f;
          for (int64_t n = 0; n < N; ++n) g = madd(delta[i * N + n], W[k * N + n], g);
          below[i * K + k] = a[i * K + k] > 0.0f ? g : 0.0f;
        }
      delta = std::move(below);
    }
    return pass;
  }

  // One SGD step on the rows x[rows[i]]: PyTorch's formulation, no weight decay on biases.
  void step(float* params, float* velocity, const float* x, const int32_t* labels,
            const std::vector<int64_t>& rows, const SgdOptions& sgd) const {
    std::vector<float> grads;
    run(params, x, labels, rows, &grads);
    for (int64_t l = 0; l < layers(); ++l) {
      const int64_t K = sizes_[l], N = sizes_[l + 1];
      for (int64_t i = w_[l]; i < w_[l] + K * N; ++i) update(params, velocity, grads, i, sgd, true);
      for (int64_t i = b_[l]; i < b_[l] + N; ++i) update(params, velocity, grads, i, sgd, false);
    }
  }

 private:
  int64_t layers() const { return static_cast<int64_t>(sizes_.size()) - 1; }

  float madd(float a, float b, float acc) const {
    return fused_ ? std::fma(a, b, acc) : acc + a * b;
  }

  static void update(float* params, float* velocity, const std::vector<float>& grads, int64_t i,
                     const SgdOptions& sgd, bool weight) {
    float g = grads[i];
    if (weight && sgd.weight_decay != 0.0f) g = g + sgd.weight_decay * params[i];
    if (sgd.momentum != 0.0f) {
      velocity[i] = sgd.momentum * velocity[i] + g;
      g = sgd.nesterov ? g + sgd.momentum * velocity[i] : velocity[i];
    }
    params[i] = params[i] - sgd.lr * g;
  }

  std::vector<int64_t> sizes_;
  bool fused_;
  std::vector<int64_t> w_, b_;  // per layer, the offsets of W [K×N] and b [N] in params
  int64_t num_params_;
};

// ---- The cases ----------------------------------------------------------------------------------

struct Config {
  const char* name;
  std::vector<int64_t> sizes;
  int64_t batch;
  SgdOptions sgd;
  int epochs;
};

const Config kConfigs[] = {
    // Wide enough that the products are cut into several chunks.
    {"plain SGD", {200, 96, 48, 10}, 64, {0.05f, 0.0f, false, 0.0f}, 1},
    {"Nesterov, weight decay", {200, 96, 48, 10}, 64, {0.05f, 0.9f, true, 1e-3f}, 2},
    {"no hidden layer", {7, 3}, 5, {0.1f, 0.5f, false, 0.0f}, 2},
    {"a hidden layer one wide", {33, 1, 17, 2}, 16, {0.1f, 0.9f, false, 0.01f}, 2},
    {"one class", {9, 4, 1}, 8, {0.1f, 0.0f, false, 0.01f}, 1},
};

// The data: kRows rows, of which the epoch visits kVisited in a shuffled order. More rows
// than an inference chunk (256), so evaluation runs in two.
constexpr int64_t kRows = 300, kVisited = 150;

struct Data {
  std::vector<float> x;
  std::vector<int32_t> labels;
  std::vector<int64_t> order;
};

Data make_data(const Config& c) {
  Data d;
  d.x = random_floats(static_cast<size_t>(kRows * c.sizes.front()), 11, 0.0f, 1.0f);
  std::mt19937 rng(12);
  std::uniform_int_distribution<int32_t> label(0, static_cast<int32_t>(c.sizes.back()) - 1);
  for (int64_t i = 0; i < kRows; ++i) d.labels.push_back(label(rng));
  d.order.resize(kRows);
  std::iota(d.order.begin(), d.order.end(), 0);
  std::shuffle(d.order.begin(), d.order.end(), rng);
  d.order.resize(kVisited);
  return d;
}

// What the plain MLP gives for a config: after a stopped epoch (one step), after the epochs,
// the gradients of the first batch, and a prediction with the trained parameters.
struct Results {
  std::vector<float> stopped_params, stopped_velocity;
  std::vector<float> params, velocity;
  std::vector<float> grads;
  double grads_loss = 0.0;
  std::vector<float> probs;
  double loss_sum = 0.0;
  int64_t correct = 0;
};

std::vector<int64_t> slice(const std::vector<int64_t>& v, int64_t begin, int64_t end) {
  return std::vector<int64_t>(v.begin() + begin, v.begin() + std::min<int64_t>(end, v.size()));
}

Results plain_results(const Config& c, const Data& d, const std::vector<float>& params0,
                      const std::vector<float>& velocity0, bool fused) {
  const PlainMlp mlp(c.sizes, fused);
  Results r;
  r.stopped_params = params0, r.stopped_velocity = velocity0;
  mlp.step(r.stopped_params.data(), r.stopped_velocity.data(), d.x.data(), d.labels.data(),
           slice(d.order, 0, c.batch), c.sgd);
  r.params = params0, r.velocity = velocity0;
  for (int e = 0; e < c.epochs; ++e)
    for (int64_t start = 0; start < kVisited; start += c.batch)
      mlp.step(r.params.data(), r.velocity.data(), d.x.data(), d.labels.data(),
               slice(d.order, start, start + c.batch), c.sgd);
  const std::vector<int64_t> batch = slice(d.order, 0, c.batch);
  const PlainMlp::Pass g = mlp.run(params0.data(), d.x.data(), d.labels.data(), batch, &r.grads);
  for (double l : g.loss) r.grads_loss += l;
  r.grads_loss /= static_cast<double>(batch.size());
  std::vector<int64_t> all(kRows);
  std::iota(all.begin(), all.end(), 0);
  const PlainMlp::Pass p = mlp.run(r.params.data(), d.x.data(), d.labels.data(), all, nullptr);
  r.probs = p.probs;
  for (int64_t i = 0; i < kRows; ++i) r.loss_sum += p.loss[i], r.correct += p.hit[i];
  return r;
}

void check_same(const std::vector<float>& got, const std::vector<float>& want,
                const std::string& what) {
  const std::string d = first_difference(got, want);
  CHECK_MESSAGE(d.empty(), what, ": ", d);
}

TEST_CASE("training, gradients and prediction equal the plain MLP's bit for bit") {
  for (const Config& c : kConfigs) {
    const Data d = make_data(c);
    const int64_t n_params = PlainMlp(c.sizes, true).num_params();
    const std::vector<float> params0 = random_floats(n_params, 13, -0.2f, 0.2f);
    const bool momentum = c.sgd.momentum != 0.0f;
    const std::vector<float> velocity0 =
        momentum ? random_floats(n_params, 14, -0.01f, 0.01f) : std::vector<float>(n_params);
    Results want[2];
    bool have[2] = {false, false};
    for (const Kernels* k : available_kernels()) {
      const int f = fuses(*k) ? 1 : 0;
      if (!have[f]) want[f] = plain_results(c, d, params0, velocity0, f == 1), have[f] = true;
      const Results& w = want[f];
      const KernelOverride path(k->name);
      for (int threads = 1; threads <= 4; ++threads) {
        INFO(std::string(c.name), ", path ", std::string(k->name), ", threads ", threads);
        Network net(c.sizes, c.batch, threads);
        REQUIRE(std::string(net.kernel()) == k->name);
        REQUIRE(net.num_params() == n_params);
        REQUIRE(net.threads() == threads);
        for (int64_t l = 0; l + 1 < static_cast<int64_t>(c.sizes.size()); ++l)
          CHECK(net.bias_offset(l) == net.weight_offset(l) + c.sizes[l] * c.sizes[l + 1]);

        // An epoch stopped after its first step keeps that step, written back.
        std::vector<float> params = params0, velocity = velocity0;
        float* v = momentum ? velocity.data() : nullptr;
        int polls = 0;
        const int64_t stopped =
            net.train_epoch(params.data(), v, d.x.data(), d.labels.data(), d.order.data(), kVisited,
                            c.sgd, [&] { return polls++ >= 1; });
        CHECK(stopped == 1);
        check_same(params, w.stopped_params, "params after a stopped epoch");
        if (momentum) check_same(velocity, w.stopped_velocity, "velocity after a stopped epoch");

        params = params0, velocity = velocity0;
        for (int e = 0; e < c.epochs; ++e) {
          const int64_t steps = net.train_epoch(params.data(), v, d.x.data(), d.labels.data(),
                                                d.order.data(), kVisited, c.sgd, {});
          CHECK(steps == (kVisited + c.batch - 1) / c.batch);
        }
        check_same(params, w.params, "params");
        if (momentum) check_same(velocity, w.velocity, "velocity");

        std::vector<float> grads(n_params);
        const double loss = net.gradients(grads.data(), params0.data(), d.x.data(), d.labels.data(),
                                          d.order.data(), c.batch);
        check_same(grads, w.grads, "gradients");
        CHECK(bits(loss) == bits(w.grads_loss));

        std::vector<float> probs(kRows * c.sizes.back());
        const Metrics m =
            net.evaluate(params.data(), d.x.data(), d.labels.data(), kRows, probs.data());
        check_same(probs, w.probs, "probabilities");
        CHECK(bits(m.loss_sum) == bits(w.loss_sum));
        CHECK(m.correct == w.correct);
        CHECK(m.rows == kRows);

        // A prediction: no labels, no loss.
        std::vector<float> predicted(kRows * c.sizes.back());
        const Metrics p =
            net.evaluate(params.data(), d.x.data(), static_cast<const int32_t*>(nullptr), kRows,
                         predicted.data());
        check_same(predicted, w.probs, "predicted probabilities");
        CHECK(p.loss_sum == 0.0);
        CHECK(p.correct == 0);
      }
    }
  }
}

TEST_CASE("a Network refuses what it cannot run") {
  CHECK_THROWS_AS(Network({4}, 8), std::invalid_argument);
  CHECK_THROWS_AS(Network({4, 0, 2}, 8), std::invalid_argument);
  CHECK_THROWS_AS(Network({4, 2}, 0), std::invalid_argument);
  CHECK_THROWS_AS(Network({4, 2}, 8, 0), std::invalid_argument);
  // One activation per hidden layer, and a finite slope.
  CHECK_THROWS_AS(Network({4, 3, 2}, 8, 1, {Activation::kTanh, Activation::kTanh}),
                  std::invalid_argument);
  CHECK_THROWS_AS(
      Network({4, 3, 2}, 8, 1, {Activation::kLeakyRelu}, std::numeric_limits<float>::infinity()),
      std::invalid_argument);
  CHECK(Network({4, 3, 3, 2}, 8, 1, {Activation::kGelu, Activation::kSigmoid}).activation(1) ==
        Activation::kSigmoid);
  {
    const KernelOverride path("sse9");
    CHECK_THROWS_AS(Network({4, 2}, 8), std::invalid_argument);
  }
  Network net({4, 3, 2}, 2);
  std::vector<float> params(net.num_params()), grads(net.num_params());
  const std::vector<float> x(8);
  const std::vector<int32_t> labels(2);
  const std::vector<int64_t> order = {0, 1};
  const SgdOptions momentum{0.1f, 0.9f, false, 0.0f};
  CHECK_THROWS_AS(net.train_epoch(params.data(), nullptr, x.data(), labels.data(), order.data(), 2,
                                  momentum, {}),
                  std::invalid_argument);
  CHECK_THROWS_AS(
      net.gradients(grads.data(), params.data(), x.data(), labels.data(), order.data(), 3),
      std::invalid_argument);
}

}  // namespace
}  // namespace nanomlp::test
