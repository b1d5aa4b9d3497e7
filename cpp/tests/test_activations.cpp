// The activations on every kernel path this CPU runs against the scalar rules, to the bit, over
// a sweep of inputs: special values, every 4099th bit pattern, a fine grid around zero, and the
// neighbours of the points where the rules change regime. Then the scalar rules against the
// libm formulas in double, within the accuracy the rules promise.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "nanomlp/activations.h"
#include "nanomlp/gemm.h"
#include "util.h"

namespace nanomlp::test {
namespace {

constexpr Activation kAll[] = {Activation::kIdentity, Activation::kRelu,    Activation::kLeakyRelu,
                               Activation::kTanh,     Activation::kSigmoid, Activation::kGelu,
                               Activation::kGeluTanh};

float from_bits(uint32_t u) {
  float x;
  std::memcpy(&x, &u, sizeof x);
  return x;
}

// The inputs of the sweep, both signs of each.
std::vector<float> sweep() {
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> v = {0.0f,
                          inf,
                          std::numeric_limits<float>::quiet_NaN(),
                          from_bits(0x7FA00001u),  // a signalling NaN
                          from_bits(0x7FC12345u),  // a NaN with a payload
                          std::numeric_limits<float>::denorm_min(),
                          std::numeric_limits<float>::min(),
                          std::numeric_limits<float>::max(),
                          1e-30f,
                          1e-10f,
                          1.0f};
  // The points where a rule changes regime: its clamps, exp's underflow.
  for (float edge : {9.0f, 6.0f, 10.0f, 88.0f, 87.68f, 87.34f, 44.0f, 43.84f, 0.5f, 1.0f}) {
    float x = edge;
    for (int k = 0; k < 8; ++k) x = std::nextafter(x, 0.0f);
    for (int k = 0; k < 17; ++k, x = std::nextafter(x, inf)) v.push_back(x);
  }
  for (uint64_t u = 0; u < (uint64_t{1} << 31); u += 4099) v.push_back(from_bits(uint32_t(u)));
  for (int i = 0; i <= 200000; ++i) v.push_back(static_cast<float>(i) * 1e-4f);
  const size_t half = v.size();
  for (size_t i = 0; i < half; ++i) v.push_back(-v[i]);
  return v;
}

std::vector<float> scalar_forward(Activation act, float slope, const std::vector<float>& z) {
  std::vector<float> a(z.size());
  for (size_t i = 0; i < z.size(); ++i) a[i] = activation_forward(act, slope, z[i]);
  return a;
}

TEST_CASE("every path's activations equal the scalar rules, bit for bit") {
  const std::vector<float> z = sweep();
  const int64_t n = static_cast<int64_t>(z.size());
  // Upstream gradients: random, with the special values among them.
  std::vector<float> g = random_floats(z.size(), 7, -2.0f, 2.0f);
  for (size_t i = 0; i < z.size(); i += 101) g[i] = z[(i * 7919) % z.size()];
  for (const Kernels* k : available_kernels()) {
    for (Activation act : kAll) {
      for (float slope : {kDefaultLeakySlope, 0.0f, -0.5f}) {
        CAPTURE(k->name);
        const std::string name = activation_name(act);
        CAPTURE(name);
        CAPTURE(slope);
        const std::vector<float> want = scalar_forward(act, slope, z);
        std::vector<float> got(z.size());
        activation_forward(*k, act, slope, z.data(), got.data(), n);
        CHECK(first_difference(got, want) == "");
        // Backward from the value the rule takes, and from arbitrary values.
        for (const std::vector<float>* saved : {backward_takes_output(act) ? &want : &z, &z}) {
          std::vector<float> dz_want(z.size()), dz(z.size());
          for (size_t i = 0; i < z.size(); ++i)
            dz_want[i] = activation_backward(act, slope, g[i], (*saved)[i]);
          activation_backward(*k, act, slope, g.data(), saved->data(), dz.data(), n);
          CHECK(first_difference(dz, dz_want) == "");
        }
        if (act != Activation::kLeakyRelu) break;
      }
    }
  }
}

TEST_CASE("every length and offset: the tails are computed, and nothing past them written") {
  const std::vector<float> z = random_floats(80, 3, -8.0f, 8.0f);
  const std::vector<float> g = random_floats(80, 4);
  for (const Kernels* k : available_kernels())
    for (Activation act : kAll)
      for (int64_t offset = 0; offset < 3; ++offset)
        for (int64_t len = 0; len <= 40; ++len) {
          CAPTURE(k->name);
          const std::string name = activation_name(act);
          CAPTURE(name);
          CAPTURE(len);
          const float sentinel = -12345.0f;
          std::vector<float> a(80, sentinel), dz(80, sentinel);
          activation_forward(*k, act, 0.1f, z.data() + offset, a.data() + offset, len);
          activation_backward(*k, act, 0.1f, g.data() + offset, z.data() + offset,
                              dz.data() + offset, len);
          for (int64_t i = 0; i < 80; ++i) {
            const bool inside = i >= offset && i < offset + len;
            const float want_a =
                inside ? activation_forward(act, 0.1f, z[static_cast<size_t>(i)]) : sentinel;
            const float want_dz = inside ? activation_backward(act, 0.1f, g[static_cast<size_t>(i)],
                                                               z[static_cast<size_t>(i)])
                                         : sentinel;
            REQUIRE(bits(a[static_cast<size_t>(i)]) == bits(want_a));
            REQUIRE(bits(dz[static_cast<size_t>(i)]) == bits(want_dz));
          }
        }
}

TEST_CASE("in place: a may be z, dz may be g") {
  const std::vector<float> z = random_floats(37, 5, -6.0f, 6.0f);
  const std::vector<float> g = random_floats(37, 6);
  for (const Kernels* k : available_kernels()) {
    std::vector<float> a = z, dz = g, want(z.size()), dz_want(z.size());
    activation_forward(*k, Activation::kGelu, 0.0f, z.data(), want.data(), 37);
    activation_forward(*k, Activation::kGelu, 0.0f, a.data(), a.data(), 37);
    CHECK(first_difference(a, want) == "");
    activation_backward(*k, Activation::kGelu, 0.0f, g.data(), z.data(), dz_want.data(), 37);
    activation_backward(*k, Activation::kGelu, 0.0f, dz.data(), z.data(), dz.data(), 37);
    CHECK(first_difference(dz, dz_want) == "");
  }
}

// The exact functions and derivatives, in double.
double exact_forward(Activation act, double x) {
  switch (act) {
    case Activation::kTanh: return std::tanh(x);
    case Activation::kSigmoid: return 1.0 / (1.0 + std::exp(-x));
    case Activation::kGelu: return x * 0.5 * (1.0 + std::erf(x / std::sqrt(2.0)));
    case Activation::kGeluTanh: {
      const double k = std::sqrt(2.0 / M_PI);
      return 0.5 * x * (1.0 + std::tanh(k * (x + 0.044715 * x * x * x)));
    }
    default: return x;
  }
}

double exact_derivative(Activation act, double x) {
  switch (act) {
    case Activation::kTanh: return 1.0 - std::tanh(x) * std::tanh(x);
    case Activation::kSigmoid: {
      const double s = 1.0 / (1.0 + std::exp(-x));
      return s * (1.0 - s);
    }
    case Activation::kGelu:
      return 0.5 * (1.0 + std::erf(x / std::sqrt(2.0))) +
             x * std::exp(-0.5 * x * x) / std::sqrt(2.0 * M_PI);
    case Activation::kGeluTanh: {
      const double k = std::sqrt(2.0 / M_PI), t = std::tanh(k * (x + 0.044715 * x * x * x));
      return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * k * (1.0 + 3.0 * 0.044715 * x * x);
    }
    default: return 1.0;
  }
}

TEST_CASE("the smooth activations are within 1e-6 of the exact functions") {
  for (Activation act :
       {Activation::kTanh, Activation::kSigmoid, Activation::kGelu, Activation::kGeluTanh}) {
    const std::string name = activation_name(act);
    CAPTURE(name);
    double worst = 0.0, worst_grad = 0.0;
    for (int i = -200000; i <= 200000; ++i) {
      const float x = static_cast<float>(i) * 5e-5f;
      const float a = activation_forward(act, 0.0f, x);
      worst = std::max(worst, std::fabs(a - exact_forward(act, x)));
      const float saved = backward_takes_output(act) ? a : x;
      const float d = activation_backward(act, 0.0f, 1.0f, saved);
      worst_grad = std::max(worst_grad, std::fabs(d - exact_derivative(act, x)));
    }
    CHECK(worst < 1e-6);
    // From the rounded output a, tanh' and σ' inherit a's error: 2·|a|·δa at most.
    CHECK(worst_grad < 2e-6);
    MESSAGE(std::string(activation_name(act))
            << ": max |f − exact| " << worst << ", max |f' − exact| " << worst_grad);
  }
}

TEST_CASE("limits and special values") {
  const float inf = std::numeric_limits<float>::infinity();
  auto f = [](Activation act, float x) { return activation_forward(act, 0.01f, x); };
  CHECK(f(Activation::kTanh, inf) == 1.0f);
  CHECK(f(Activation::kTanh, -inf) == -1.0f);
  CHECK(bits(f(Activation::kTanh, -0.0f)) == bits(-0.0f));
  CHECK(f(Activation::kTanh, 1e-30f) == 1e-30f);
  CHECK(f(Activation::kSigmoid, inf) == 1.0f);
  CHECK(f(Activation::kSigmoid, -inf) == 0.0f);
  CHECK(f(Activation::kSigmoid, 0.0f) == 0.5f);
  CHECK(f(Activation::kGelu, inf) == inf);
  CHECK(bits(f(Activation::kGelu, -inf)) == bits(-0.0f));
  CHECK(f(Activation::kGeluTanh, inf) == inf);
  CHECK(bits(f(Activation::kGeluTanh, -inf)) == bits(-0.0f));
  CHECK(f(Activation::kGelu, 1e30f) == 1e30f);
  CHECK(f(Activation::kRelu, std::nanf("")) == 0.0f);
  const uint32_t default_nan = 0x7FC00000u;
  for (Activation act :
       {Activation::kTanh, Activation::kSigmoid, Activation::kGelu, Activation::kGeluTanh}) {
    const std::string name = activation_name(act);
    CAPTURE(name);
    CHECK(bits(f(act, from_bits(0xFFC12345u))) == default_nan);
    CHECK(bits(activation_backward(act, 0.0f, from_bits(0x7FC00001u), from_bits(0xFFC00002u))) ==
          default_nan);
    // Saturated: the derivative at ±inf is that of the limit, 0 or 1, never NaN.
    const float d_pos =
        activation_backward(act, 0.0f, 1.0f, backward_takes_output(act) ? f(act, inf) : inf);
    const float d_neg =
        activation_backward(act, 0.0f, 1.0f, backward_takes_output(act) ? f(act, -inf) : -inf);
    CHECK(d_pos == (act == Activation::kGelu || act == Activation::kGeluTanh ? 1.0f : 0.0f));
    CHECK(std::fabs(d_neg) < 1e-12f);
  }
}

TEST_CASE("activation names") {
  CHECK(activation_named("logistic") == Activation::kSigmoid);
  CHECK(std::string(activation_name(Activation::kGeluTanh)) == "gelu_tanh");
  CHECK_THROWS_AS(activation_named("swish"), std::invalid_argument);
}

}  // namespace
}  // namespace nanomlp::test
