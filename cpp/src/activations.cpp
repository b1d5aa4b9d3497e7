#include "nanomlp/activations.h"

#include <stdexcept>

#include "gemm_paths.h"
#include "nanomlp/gemm.h"

namespace nanomlp {

namespace {

struct Named {
  const char* name;
  Activation act;
};

constexpr Named kNames[] = {
    {"identity", Activation::kIdentity},
    {"relu", Activation::kRelu},
    {"leaky_relu", Activation::kLeakyRelu},
    {"tanh", Activation::kTanh},
    {"sigmoid", Activation::kSigmoid},
    {"logistic", Activation::kSigmoid},
    {"gelu", Activation::kGelu},
    {"gelu_tanh", Activation::kGeluTanh},
};

}  // namespace

Activation activation_named(const std::string& name) {
  for (const Named& n : kNames)
    if (name == n.name) return n.act;
  throw std::invalid_argument("unknown activation '" + name +
                              "': expected identity, relu, leaky_relu, tanh, sigmoid (logistic), "
                              "gelu or gelu_tanh");
}

const char* activation_name(Activation act) {
  for (const Named& n : kNames)
    if (act == n.act) return n.name;
  return "?";
}

void detail::generic_activation_forward(Activation act, float slope, const float* z, float* a,
                                        int64_t n) {
  for (int64_t i = 0; i < n; ++i) a[i] = activation_forward(act, slope, z[i]);
}

void detail::generic_activation_backward(Activation act, float slope, const float* g,
                                         const float* saved, float* dz, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dz[i] = activation_backward(act, slope, g[i], saved[i]);
}

void activation_forward(const Kernels& kernels, Activation act, float slope, const float* z,
                        float* a, int64_t n) {
  kernels.activation_forward(act, slope, z, a, n);
}

void activation_backward(const Kernels& kernels, Activation act, float slope, const float* g,
                         const float* saved, float* dz, int64_t n) {
  kernels.activation_backward(act, slope, g, saved, dz, n);
}

}  // namespace nanomlp
