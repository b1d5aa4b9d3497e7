// The Python boundary: every array is checked here (dtype, shape, contiguity, writability,
// index ranges) before a kernel sees its pointer, and long work runs without the GIL.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <chrono>
#include <stdexcept>
#include <string>

#include "nanomlp/gemm.h"
#include "nanomlp/network.h"

namespace py = pybind11;
using nanomlp::Network;

namespace {

std::string shape_of(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s += (i ? ", " : "") + std::to_string(a.shape(i));
  return s + (a.ndim() == 1 ? ",)" : ")");
}

template <typename T>
void require(const py::array& a, const char* name, py::ssize_t ndim, bool writable = false) {
  if (!a.dtype().is(py::dtype::of<T>()))
    throw py::type_error(std::string(name) + " must have dtype " +
                         py::str(py::dtype::of<T>()).cast<std::string>() + ", got " +
                         py::str(a.dtype()).cast<std::string>());
  if (a.ndim() != ndim)
    throw py::value_error(std::string(name) + " must be " + std::to_string(ndim) +
                          "-dimensional, got shape " + shape_of(a));
  if (!(a.flags() & py::array::c_style))
    throw py::value_error(std::string(name) + " must be C-contiguous");
  if (writable && !a.writeable()) throw py::value_error(std::string(name) + " must be writable");
}

void require_params(const Network& net, const py::array& params, bool writable) {
  require<float>(params, "params", 1, writable);
  if (params.shape(0) != net.num_params())
    throw py::value_error("params must have " + std::to_string(net.num_params()) +
                          " elements, got " + std::to_string(params.shape(0)));
}

void require_x(const Network& net, const py::array& x) {
  require<float>(x, "x", 2);
  if (x.shape(1) != net.layer_sizes().front())
    throw py::value_error("x must have " + std::to_string(net.layer_sizes().front()) +
                          " columns, got shape " + shape_of(x));
}

void require_labels(const Network& net, const py::array& labels, py::ssize_t rows) {
  require<int32_t>(labels, "labels", 1);
  if (labels.shape(0) != rows)
    throw py::value_error("labels must have " + std::to_string(rows) + " entries, got " +
                          std::to_string(labels.shape(0)));
  const auto* y = static_cast<const int32_t*>(labels.data());
  const int64_t classes = net.layer_sizes().back();
  for (py::ssize_t i = 0; i < rows; ++i)
    if (y[i] < 0 || y[i] >= classes)
      throw py::value_error("labels[" + std::to_string(i) + "] = " + std::to_string(y[i]) +
                            " is outside [0, " + std::to_string(classes) + ")");
}

void require_order(const py::array& order, py::ssize_t rows) {
  require<int64_t>(order, "order", 1);
  const auto* o = static_cast<const int64_t*>(order.data());
  for (py::ssize_t i = 0; i < order.shape(0); ++i)
    if (o[i] < 0 || o[i] >= rows)
      throw py::value_error("order[" + std::to_string(i) + "] = " + std::to_string(o[i]) +
                            " is outside [0, " + std::to_string(rows) + ")");
}

// Polled between steps without the GIL: takes it at most every 20 ms, so Ctrl-C is seen
// quickly while a busy Python thread elsewhere costs this loop almost nothing.
class SignalPoll {
 public:
  bool operator()() {
    const auto now = std::chrono::steady_clock::now();
    if (now - last_ < std::chrono::milliseconds(20)) return false;
    last_ = now;
    py::gil_scoped_acquire gil;
    interrupted_ = PyErr_CheckSignals() != 0;
    return interrupted_;
  }
  // Re-raises what the signal handler raised (KeyboardInterrupt for Ctrl-C).
  void rethrow_if_interrupted() const {
    if (interrupted_) throw py::error_already_set();
  }

 private:
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
  bool interrupted_ = false;
};

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "nanomlp's native engine: MLP training and inference over float32 buffers.";
  m.attr("__version__") = NANOMLP_VERSION;

  py::class_<Network>(m, "Network")
      .def(py::init<std::vector<int64_t>, int64_t>(), py::arg("layer_sizes"),
           py::arg("batch_size"))
      .def_property_readonly("layer_sizes", &Network::layer_sizes)
      .def_property_readonly("batch_size", &Network::batch_size)
      .def_property_readonly("num_params", &Network::num_params)
      .def("weight_offset", &Network::weight_offset, py::arg("layer"))
      .def("bias_offset", &Network::bias_offset, py::arg("layer"))
      .def(
          "train_epoch",
          [](Network& net, py::array params, py::array x, py::array labels, py::array order,
             float lr) {
            require_params(net, params, true);
            require_x(net, x);
            require_labels(net, labels, x.shape(0));
            require_order(order, x.shape(0));
            auto* p = static_cast<float*>(params.mutable_data());
            const auto* xs = static_cast<const float*>(x.data());
            const auto* ys = static_cast<const int32_t*>(labels.data());
            const auto* os = static_cast<const int64_t*>(order.data());
            const int64_t n = order.shape(0);
            SignalPoll poll;
            int64_t steps;
            {
              py::gil_scoped_release nogil;
              steps = net.train_epoch(p, xs, ys, os, n, lr, std::ref(poll));
            }
            poll.rethrow_if_interrupted();
            return steps;
          },
          py::arg("params"), py::arg("x"), py::arg("labels"), py::arg("order"), py::arg("lr"),
          "One SGD epoch over x[order] in place on params; returns the number of steps.")
      .def(
          "gradients",
          [](Network& net, py::array params, py::array x, py::array labels) {
            require_params(net, params, false);
            require_x(net, x);
            require_labels(net, labels, x.shape(0));
            const int64_t B = x.shape(0);
            if (B < 1 || B > net.batch_size())
              throw py::value_error("x must have between 1 and batch_size=" +
                                    std::to_string(net.batch_size()) + " rows, got " +
                                    std::to_string(B));
            py::array_t<float> grads(net.num_params());
            std::vector<int64_t> order(static_cast<size_t>(B));
            for (int64_t i = 0; i < B; ++i) order[i] = i;
            const double loss = net.gradients(
                grads.mutable_data(), static_cast<const float*>(params.data()),
                static_cast<const float*>(x.data()), static_cast<const int32_t*>(labels.data()),
                order.data(), B);
            return py::make_tuple(grads, loss);
          },
          py::arg("params"), py::arg("x"), py::arg("labels"),
          "Gradients of the mean loss over one batch, and that loss; params are not changed.")
      .def(
          "evaluate",
          [](Network& net, py::array params, py::array x, py::object labels, bool return_proba) {
            require_params(net, params, false);
            require_x(net, x);
            const int64_t n = x.shape(0);
            const int32_t* ys = nullptr;
            py::array labels_array;
            if (!labels.is_none()) {
              labels_array = labels.cast<py::array>();
              require_labels(net, labels_array, n);
              ys = static_cast<const int32_t*>(labels_array.data());
            }
            py::object proba = py::none();
            float* out = nullptr;
            if (return_proba) {
              py::array_t<float> probs({n, net.layer_sizes().back()});
              out = probs.mutable_data();
              proba = probs;
            }
            nanomlp::Metrics metrics;
            SignalPoll poll;
            {
              py::gil_scoped_release nogil;
              metrics = net.evaluate(static_cast<const float*>(params.data()),
                                     static_cast<const float*>(x.data()), ys, n, out,
                                     std::ref(poll));
            }
            poll.rethrow_if_interrupted();
            return py::make_tuple(metrics.loss_sum, metrics.correct, proba);
          },
          py::arg("params"), py::arg("x"), py::arg("labels") = py::none(),
          py::arg("return_proba") = false,
          "Inference in bounded memory: (loss sum, correct count, probabilities or None).");
}
