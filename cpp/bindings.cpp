// The Python boundary: every array is checked here (dtype, shape, contiguity, writability,
// index ranges) before a kernel sees its pointer, and long work runs without the GIL. Only what
// would break the engine is checked: the ranges of hyperparameters are the Python API's.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>

#include "nanomlp/activations.h"
#include "nanomlp/gemm.h"
#include "nanomlp/network.h"
#include "nanomlp/threads.h"

namespace py = pybind11;
using nanomlp::Network;

namespace {

// One call at a time per Network: its workspaces and pool serve a single call, and Python
// threads may share a Network (a Trainer's predict from several threads). The lock is taken
// after the GIL is released, so a waiting thread never holds the GIL that the running call
// needs to poll for Ctrl-C.
struct LockedNetwork : Network {
  using Network::Network;
  std::mutex busy;
};

// More threads than any CPU offers: spawning them could fail half-way, which the pool cannot
// undo.
constexpr int kMaxThreads = 1024;

// The Network sizes its buffers with int64 products; these are checked here first, so sizes
// whose products overflow, or exceed what an address space holds, are a MemoryError rather
// than a wrapped size.
void require_sizes(const std::vector<int64_t>& sizes, int64_t batch, int threads) {
  if (threads < 1 || threads > kMaxThreads)
    throw py::value_error("threads must be in [1, " + std::to_string(kMaxThreads) + "], got " +
                          std::to_string(threads));
  if (sizes.size() < 2) throw py::value_error("layer_sizes needs at least two entries");
  for (int64_t s : sizes)
    if (s < 1) throw py::value_error("every layer size must be >= 1, got " + std::to_string(s));
  if (batch < 1) throw py::value_error("batch_size must be >= 1, got " + std::to_string(batch));
  // Beyond this many floats no allocation can succeed (the byte count overflows ptrdiff_t).
  constexpr int64_t kMaxFloats = std::numeric_limits<int64_t>::max() / 64;
  const int64_t rows = std::max<int64_t>(batch, 256);
  int64_t params = 0, floats = 0;
  bool overflow = false;
  auto add = [&](int64_t& total, int64_t a, int64_t b) {
    int64_t p;
    overflow |= __builtin_mul_overflow(a, b, &p) || __builtin_add_overflow(total, p, &total) ||
                total > kMaxFloats;
  };
  for (int64_t s : sizes) overflow |= s > kMaxFloats;  // so that s + 16 cannot overflow
  for (size_t l = 0; l < sizes.size() && !overflow; ++l) {
    if (l > 0) {  // activations and deltas; the input is read in place
      add(floats, rows, sizes[l]);
      add(floats, batch, sizes[l]);
    }
    if (l + 1 < sizes.size()) {
      add(params, sizes[l] + 1, sizes[l + 1]);
      add(floats, sizes[l] + 1, sizes[l + 1] + 16);  // the padded copy (Wᵀ is smaller)
    }
  }
  // Zero-filling buffers larger than the machine's memory would end in the OOM killer rather
  // than a failed allocation, so those are refused here too.
  const int64_t pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  const bool too_big = !overflow && pages > 0 && page > 0 && floats / page * 4 > pages;
  if (overflow || too_big) {
    std::string s;
    for (size_t i = 0; i < sizes.size(); ++i) s += (i ? ", " : "") + std::to_string(sizes[i]);
    const std::string need = overflow ? "more memory than can be addressed"
                                      : std::to_string(floats / (1 << 28)) +
                                            " GiB of workspaces, more than this machine's " +
                                            std::to_string(pages / ((1 << 30) / page)) + " GiB";
    const std::string msg = "a Network of layer sizes [" + s + "] and batch size " +
                            std::to_string(batch) + " needs " + need;
    PyErr_SetString(PyExc_MemoryError, msg.c_str());
    throw py::error_already_set();
  }
}

std::string shape_of(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s += (i ? ", " : "") + std::to_string(a.shape(i));
  return s + (a.ndim() == 1 ? ",)" : ")");
}

template <typename T>
void require(const py::array& a, const char* name, py::ssize_t ndim, bool writable = false) {
  if (!a.dtype().equal(py::dtype::of<T>()))
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

// The loss's targets: int32 labels for cross-entropy, else float32 rows of the output width.
void require_targets(const Network& net, const py::array& targets, py::ssize_t rows) {
  if (net.loss() == nanomlp::Loss::kCrossEntropy) return require_labels(net, targets, rows);
  require<float>(targets, "targets", 2);
  const int64_t C = net.layer_sizes().back();
  if (targets.shape(0) != rows || targets.shape(1) != C)
    throw py::value_error("targets must have shape (" + std::to_string(rows) + ", " +
                          std::to_string(C) + "), got " + shape_of(targets));
}

const char* loss_name(nanomlp::Loss loss) {
  switch (loss) {
    case nanomlp::Loss::kCrossEntropy: return "cross_entropy";
    case nanomlp::Loss::kBinaryCrossEntropy: return "binary_cross_entropy";
    case nanomlp::Loss::kMse: return "mse";
    case nanomlp::Loss::kHuber: return "huber";
  }
  return "";
}

nanomlp::Loss loss_arg(const std::string& name) {
  for (auto loss : {nanomlp::Loss::kCrossEntropy, nanomlp::Loss::kBinaryCrossEntropy,
                    nanomlp::Loss::kMse, nanomlp::Loss::kHuber})
    if (name == loss_name(loss)) return loss;
  throw py::value_error(
      "loss must be 'cross_entropy', 'binary_cross_entropy', 'mse' or "
      "'huber', got '" +
      name + "'");
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

// (M, N, K) of a·b ('nn'), aᵀ·b ('tn') or a·bᵀ ('nt'), after checking the arrays.
struct Shape {
  int64_t M, N, K;
};

Shape product_shape(const std::string& shape, const py::array& a, const py::array& b) {
  if (shape != "nn" && shape != "tn" && shape != "nt")
    throw py::value_error("shape must be 'nn', 'tn' or 'nt', got '" + shape + "'");
  require<float>(a, "a", 2);
  require<float>(b, "b", 2);
  const bool ta = shape == "tn", tb = shape == "nt";
  const Shape s{ta ? a.shape(1) : a.shape(0), tb ? b.shape(0) : b.shape(1),
                ta ? a.shape(0) : a.shape(1)};
  if ((tb ? b.shape(1) : b.shape(0)) != s.K)
    throw py::value_error("a and b do not chain for '" + shape + "': shapes " + shape_of(a) +
                          " and " + shape_of(b));
  return s;
}

const float* optional_matrix(const py::object& obj, py::array* keep, const char* name, int64_t rows,
                             int64_t cols) {
  if (obj.is_none()) return nullptr;
  *keep = obj.cast<py::array>();
  require<float>(*keep, name, rows < 0 ? 1 : 2);
  if ((rows < 0 && keep->shape(0) != cols) ||
      (rows >= 0 && (keep->shape(0) != rows || keep->shape(1) != cols)))
    throw py::value_error(std::string(name) + " has the wrong shape " + shape_of(*keep));
  return static_cast<const float*>(keep->data());
}

nanomlp::Activation activation_arg(const std::string& name) {
  try {
    return nanomlp::activation_named(name);
  } catch (const std::invalid_argument& e) {
    throw py::value_error(e.what());
  }
}

// A float32, C-contiguous array of any shape.
void require_elements(const py::array& a, const char* name) {
  if (!a.dtype().equal(py::dtype::of<float>()))
    throw py::type_error(std::string(name) + " must have dtype float32, got " +
                         py::str(a.dtype()).cast<std::string>());
  if (!(a.flags() & py::array::c_style))
    throw py::value_error(std::string(name) + " must be C-contiguous");
}

void bind_testing(py::module_& testing) {
  testing.def(
      "available_kernels",
      [] {
        std::vector<std::string> names;
        for (const nanomlp::Kernels* k : nanomlp::available_kernels()) names.push_back(k->name);
        return names;
      },
      "The kernel paths this build has and this CPU runs, best first.");
  testing.def(
      "gemm",
      [](const std::string& shape, py::array a, py::array b, const std::string& kernel, int threads,
         py::object bias, bool relu, py::object mask, py::object c, float lr, py::object rows) {
        nanomlp::GemmOp op;
        op.A = static_cast<const float*>(a.data());
        op.lda = a.ndim() == 2 ? a.shape(1) : 0;
        // Rows of a read in place through pointers, as the engine reads a batch.
        std::vector<const float*> row_ptrs;
        py::array picked = a;
        if (!rows.is_none()) {
          py::array idx = rows.cast<py::array>();
          require<int64_t>(idx, "rows", 1);
          require<float>(a, "a", 2);
          require_order(idx, a.shape(0));
          const auto* r = static_cast<const int64_t*>(idx.data());
          for (py::ssize_t i = 0; i < idx.shape(0); ++i) row_ptrs.push_back(op.A + r[i] * op.lda);
          // The shapes are those of a[rows].
          picked = py::array_t<float>({idx.shape(0), a.shape(1)});
          op.a_rows = row_ptrs.data();
        }
        const Shape s = product_shape(shape, picked, b);
        const nanomlp::Kernels& kernels = nanomlp::kernels_named(kernel);
        if (threads < 1 || threads > kMaxThreads)
          throw py::value_error("threads must be in [1, " + std::to_string(kMaxThreads) + "]");
        op.M = s.M, op.N = s.N, op.K = s.K;
        op.trans_a = shape == "tn";
        // The input gradient's form: Bᵀ packed once, then the same kernel as the forward.
        std::vector<float> bt;
        if (shape == "nt") {
          bt.resize(static_cast<size_t>(s.K * s.N));
          nanomlp::transpose_rows(bt.data(), static_cast<const float*>(b.data()), s.N, s.K, s.K, 0,
                                  s.K);
          op.B = bt.data();
        } else {
          op.B = static_cast<const float*>(b.data());
        }
        op.ldb = s.N;
        py::array keep_bias, keep_mask, keep_c;
        op.ep.bias = optional_matrix(bias, &keep_bias, "bias", -1, s.N);
        if (relu) op.ep.act = nanomlp::Activation::kRelu;
        op.ep.saved = optional_matrix(mask, &keep_mask, "mask", s.M, s.N);
        op.ep.derivative = nanomlp::Activation::kRelu;
        op.ep.ldsv = s.N;
        py::array_t<float> out({s.M, s.N});
        nanomlp::UpdateRule sgd;
        if (const float* start = optional_matrix(c, &keep_c, "c", s.M, s.N)) {
          std::memcpy(out.mutable_data(), start, sizeof(float) * s.M * s.N);
          sgd.neg_lr = -lr;
          op.ep.update = &sgd;
        }
        op.C = out.mutable_data();
        op.ldc = s.N;
        {
          py::gil_scoped_release nogil;
          const nanomlp::GemmChunks chunks = nanomlp::gemm_chunks(kernels, op, threads);
          nanomlp::ThreadPool pool(threads, 1, chunks.count);
          auto work = [&](int, int64_t c) { nanomlp::gemm_chunk(kernels, op, chunks, c); };
          pool.run(1, &chunks.count, work);
        }
        return out;
      },
      py::arg("shape"), py::arg("a"), py::arg("b"), py::arg("kernel"), py::arg("threads") = 1,
      py::arg("bias") = py::none(), py::arg("relu") = false, py::arg("mask") = py::none(),
      py::arg("c") = py::none(), py::arg("lr") = 0.0f, py::arg("rows") = py::none(),
      "a·b ('nn'), aᵀ·b ('tn') or a·bᵀ ('nt') on the kernel path `kernel`, split over `threads` "
      "threads as the engine splits it, with the engine's epilogue: + bias, ReLU, 0 where "
      "mask <= 0, and c − lr·(product) when c is given. With rows (int64), a[rows] read in "
      "place through row pointers.");
  testing.def(
      "activation_forward",
      [](const std::string& name, py::array z, const std::string& kernel, float negative_slope) {
        const nanomlp::Activation act = activation_arg(name);
        const nanomlp::Kernels& kernels = nanomlp::kernels_named(kernel);
        require_elements(z, "z");
        py::array_t<float> a(std::vector<py::ssize_t>(z.shape(), z.shape() + z.ndim()));
        const auto* pz = static_cast<const float*>(z.data());
        float* pa = a.mutable_data();
        const int64_t n = z.size();
        {
          py::gil_scoped_release nogil;
          nanomlp::activation_forward(kernels, act, negative_slope, pz, pa, n);
        }
        return a;
      },
      py::arg("name"), py::arg("z"), py::arg("kernel"),
      py::arg("negative_slope") = nanomlp::kDefaultLeakySlope,
      "The activation `name` of every element of z (float32, C-contiguous, any shape) on the "
      "kernel path `kernel`.");
  testing.def(
      "activation_backward",
      [](const std::string& name, py::array g, py::array saved, const std::string& kernel,
         float negative_slope) {
        const nanomlp::Activation act = activation_arg(name);
        const nanomlp::Kernels& kernels = nanomlp::kernels_named(kernel);
        require_elements(g, "g");
        require_elements(saved, "saved");
        if (shape_of(g) != shape_of(saved))
          throw py::value_error("g and saved must have the same shape, got " + shape_of(g) +
                                " and " + shape_of(saved));
        py::array_t<float> dz(std::vector<py::ssize_t>(g.shape(), g.shape() + g.ndim()));
        const auto* pg = static_cast<const float*>(g.data());
        const auto* ps = static_cast<const float*>(saved.data());
        float* pd = dz.mutable_data();
        const int64_t n = g.size();
        {
          py::gil_scoped_release nogil;
          nanomlp::activation_backward(kernels, act, negative_slope, pg, ps, pd, n);
        }
        return dz;
      },
      py::arg("name"), py::arg("g"), py::arg("saved"), py::arg("kernel"),
      py::arg("negative_slope") = nanomlp::kDefaultLeakySlope,
      "dL/dz of the activation `name` from the upstream gradient g and the saved value (the "
      "output for tanh and sigmoid, else the pre-activation), on the kernel path `kernel`.");
  testing.attr("generic_fuses") = nanomlp::generic_fuses();
  testing.def(
      "reference_gemm",
      [](const std::string& shape, py::array a, py::array b, bool fused) {
        const Shape s = product_shape(shape, a, b);
        py::array_t<float> out({s.M, s.N});
        const auto* pa = static_cast<const float*>(a.data());
        const auto* pb = static_cast<const float*>(b.data());
        float* pc = out.mutable_data();
        namespace ref = nanomlp::reference;
        if (shape == "nn") ref::gemm_nn(s.M, s.N, s.K, pa, s.K, pb, s.N, pc, s.N, fused);
        if (shape == "tn") ref::gemm_tn(s.M, s.N, s.K, pa, s.M, pb, s.N, pc, s.N, fused);
        if (shape == "nt") ref::gemm_nt(s.M, s.N, s.K, pa, s.K, pb, s.K, pc, s.N, fused);
        return out;
      },
      py::arg("shape"), py::arg("a"), py::arg("b"), py::arg("fused") = false,
      "The naive reference product, as gemm: each element one sum over k in order, with a fused "
      "multiply-add per term when fused (the fast paths' contract), else a multiply then an add.");
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "nanomlp's native engine: MLP training and inference over float32 buffers.";
  m.attr("__version__") = NANOMLP_VERSION;

  m.def(
      "first_nonfinite_row",
      [](py::array_t<float, 0> x) {
        // Strict type: the caller (check_features) converts first, so no copy hides here.
        if (x.ndim() != 2 || !(x.flags() & py::array::c_style))
          throw py::value_error("x must be a C-contiguous 2-D float32 array");
        const float* p = x.data();
        const int64_t rows = x.shape(0), cols = x.shape(1);
        int64_t bad = -1;
        {
          // Without the GIL only when it is worth the hand-over.
          std::optional<py::gil_scoped_release> nogil;
          if (rows * cols > (int64_t{1} << 16)) nogil.emplace();
          for (int64_t i = 0; i < rows && bad < 0; ++i) {
            // NaN and ±inf are the floats whose exponent bits are all ones; integer tests,
            // unlike float compares, let the compiler vectorise the loop.
            uint32_t all_ones = 0;
            for (int64_t j = 0; j < cols; ++j) {
              uint32_t bits;
              std::memcpy(&bits, p + i * cols + j, sizeof bits);
              all_ones |= static_cast<uint32_t>((bits & 0x7f800000u) == 0x7f800000u);
            }
            if (all_ones) bad = i;
          }
        }
        return bad;
      },
      py::arg("x"),
      "The first row of x holding NaN or infinity, or -1: the finite check of every input, "
      "without the temporary arrays NumPy's would make.");

  py::class_<LockedNetwork>(m, "Network")
      .def(
          py::init([](std::vector<int64_t> layer_sizes, int64_t batch_size, int threads,
                      py::object activations, float negative_slope, double label_smoothing,
                      const std::string& loss, double delta) {
            const nanomlp::Loss kind = loss_arg(loss);
            if (!(delta > 0.0 && std::isfinite(delta)))
              throw py::value_error("delta must be finite and > 0, got " + std::to_string(delta));
            require_sizes(layer_sizes, batch_size, threads);
            const size_t hidden = layer_sizes.size() - 2;
            std::vector<nanomlp::Activation> acts;
            if (!activations.is_none()) {
              if (py::isinstance<py::str>(activations))
                throw py::type_error("activations must be a list of names, not one string");
              for (py::handle name : activations) {
                if (!py::isinstance<py::str>(name))
                  throw py::type_error("activations must hold names (str)");
                acts.push_back(activation_arg(name.cast<std::string>()));
              }
              if (acts.size() != hidden)
                throw py::value_error("activations must hold one name per hidden layer (" +
                                      std::to_string(hidden) + "), got " +
                                      std::to_string(acts.size()));
            }
            if (!std::isfinite(negative_slope))
              throw py::value_error("negative_slope must be finite, got " +
                                    std::to_string(negative_slope));
            if (!(label_smoothing >= 0.0 && label_smoothing <= 1.0))
              throw py::value_error("label_smoothing must be in [0, 1], got " +
                                    std::to_string(label_smoothing));
            try {
              return new LockedNetwork(std::move(layer_sizes), batch_size, threads, std::move(acts),
                                       negative_slope, label_smoothing, kind, delta);
            } catch (const std::bad_alloc&) {
              PyErr_SetString(PyExc_MemoryError,
                              "not enough memory for the Network's workspaces (layer sizes and "
                              "batch size too large for this machine)");
              throw py::error_already_set();
            }
          }),
          py::arg("layer_sizes"), py::arg("batch_size"), py::arg("threads") = 1,
          py::arg("activations") = py::none(),
          py::arg("negative_slope") = nanomlp::kDefaultLeakySlope, py::arg("label_smoothing") = 0.0,
          py::arg("loss") = "cross_entropy", py::arg("delta") = 1.0,
          "Workspaces for these layer sizes and batch size, and a pool of threads (>= 1); the "
          "results are bit-identical for any thread count. activations: one name per hidden "
          "layer (identity, relu, leaky_relu, tanh, sigmoid or logistic, gelu, gelu_tanh), "
          "default relu; negative_slope: leaky_relu's; label_smoothing: PyTorch's "
          "CrossEntropyLoss(label_smoothing=) in [0, 1], in training and evaluation; loss: "
          "cross_entropy (int32 labels), binary_cross_entropy, mse or huber (float32 targets "
          "[rows, output width]); delta: huber's.")
      .def_property_readonly(
          "activations",
          [](const LockedNetwork& net) {
            std::vector<std::string> names;
            for (size_t h = 0; h + 2 < net.layer_sizes().size(); ++h)
              names.push_back(nanomlp::activation_name(net.activation(static_cast<int64_t>(h))));
            return names;
          },
          "The hidden layers' activations, by name.")
      .def_property_readonly("negative_slope", &Network::negative_slope)
      .def_property_readonly("label_smoothing", &Network::label_smoothing)
      .def_property_readonly("loss", [](const LockedNetwork& net) { return loss_name(net.loss()); })
      .def_property_readonly("delta", &Network::delta)
      .def_property_readonly("threads", &Network::threads)
      .def_property_readonly("kernel", &Network::kernel,
                             "The instruction-set path: avx512, avx2, neon or generic.")
      .def_property_readonly("layer_sizes", &Network::layer_sizes)
      .def_property_readonly("batch_size", &Network::batch_size)
      .def_property_readonly("num_params", &Network::num_params)
      .def("weight_offset", &Network::weight_offset, py::arg("layer"))
      .def("bias_offset", &Network::bias_offset, py::arg("layer"))
      .def(
          "train_epoch",
          [](LockedNetwork& net, py::array params, py::array x, py::array labels, py::array order,
             py::object lr, const std::string& optimizer, double momentum, bool nesterov,
             double weight_decay, std::pair<double, double> betas, double eps, bool amsgrad,
             double alpha, bool centered, py::object state, int64_t step, py::object sample_weight,
             py::object dropout, uint64_t dropout_seed, uint64_t first_step, double clip_value,
             double clip_norm, py::object velocity, bool track_loss) -> py::object {
            require_params(net, params, true);
            require_x(net, x);
            require_targets(net, labels, x.shape(0));
            require_order(order, x.shape(0));
            // Only what the engine needs to run safely is checked here; the ranges of the
            // hyperparameters are the Python API's to check.
            nanomlp::OptimizerConfig c;
            if (optimizer == "sgd") {
              c.kind = nanomlp::OptimizerKind::kSgd;
            } else if (optimizer == "adam" || optimizer == "adamw") {
              c.kind = nanomlp::OptimizerKind::kAdam;
              c.decoupled = optimizer == "adamw";
            } else if (optimizer == "rmsprop") {
              c.kind = nanomlp::OptimizerKind::kRmsprop;
            } else {
              throw py::value_error("optimizer must be 'sgd', 'adam', 'adamw' or 'rmsprop', got '" +
                                    optimizer + "'");
            }
            c.momentum = momentum, c.nesterov = nesterov, c.weight_decay = weight_decay;
            c.beta1 = betas.first, c.beta2 = betas.second, c.eps = eps, c.amsgrad = amsgrad;
            c.alpha = alpha, c.centered = centered;
            const int64_t n = order.shape(0);
            const int64_t n_steps = (n + net.batch_size() - 1) / net.batch_size();
            nanomlp::EpochOptions e;
            e.step = step;

            // lr: one per step (float64), or one number for every step.
            py::array lr_array;
            if (py::isinstance<py::array>(lr) && lr.cast<py::array>().ndim() != 0) {
              lr_array = lr.cast<py::array>();
              require<double>(lr_array, "lr", 1);
              if (lr_array.shape(0) < n_steps)
                throw py::value_error("lr holds " + std::to_string(lr_array.shape(0)) +
                                      " learning rates for an epoch of " + std::to_string(n_steps) +
                                      " steps");
              e.lr = static_cast<const double*>(lr_array.data());
            } else {
              e.constant_lr = lr.cast<double>();
            }

            // The state arrays, by the names optim.py gives them, in the engine's slots.
            static const char* const kSlots[3][3] = {{"momentum_buffer", "", ""},
                                                     {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"},
                                                     {"square_avg", "momentum_buffer", "grad_avg"}};
            bool used[3];
            Network::state_slots(c, used);
            float* slots[3] = {nullptr, nullptr, nullptr};
            py::array keep[3];
            auto take = [&](py::object obj, const std::string& name, int k) {
              keep[k] = obj.cast<py::array>();
              require<float>(keep[k], name.c_str(), 1, true);
              if (keep[k].shape(0) != net.num_params())
                throw py::value_error(name + " must have " + std::to_string(net.num_params()) +
                                      " elements, got " + std::to_string(keep[k].shape(0)));
              slots[k] = static_cast<float*>(keep[k].mutable_data());
            };
            const int kind = static_cast<int>(c.kind);
            if (!velocity.is_none() && state.is_none() && c.kind == nanomlp::OptimizerKind::kSgd) {
              // The original API: SGD's velocity, updated as momentum·v + g from the first
              // step on.
              if (used[0]) take(velocity, "velocity", 0);
              e.clone_first = false;
            } else {
              py::dict d = state.is_none() ? py::dict() : state.cast<py::dict>();
              for (int k = 0; k < 3; ++k) {
                if (!used[k]) continue;
                const std::string name = kSlots[kind][k];
                if (!d.contains(name.c_str()))
                  throw py::value_error(optimizer + " needs state['" + name + "']" +
                                        (c.kind == nanomlp::OptimizerKind::kSgd
                                             ? " (or velocity=) with momentum != 0"
                                             : ""));
                take(d[name.c_str()], "state['" + name + "']", k);
              }
            }
            for (int i = 0; i < 3; ++i)
              for (int k = 0; k < i; ++k)
                if (slots[i] && slots[i] == slots[k])
                  throw py::value_error("the optimizer's state arrays must be distinct");

            py::array weight_array;
            if (!sample_weight.is_none()) {
              weight_array = sample_weight.cast<py::array>();
              require<float>(weight_array, "sample_weight", 1);
              if (weight_array.shape(0) != x.shape(0))
                throw py::value_error("sample_weight must have " + std::to_string(x.shape(0)) +
                                      " entries (one per row of x), got " +
                                      std::to_string(weight_array.shape(0)));
              e.sample_weight = static_cast<const float*>(weight_array.data());
            }
            std::vector<double> rates;
            if (!dropout.is_none()) {
              rates = dropout.cast<std::vector<double>>();
              const size_t hidden = net.layer_sizes().size() - 2;
              if (rates.size() != hidden)
                throw py::value_error("dropout must hold one rate per hidden layer (" +
                                      std::to_string(hidden) + "), got " +
                                      std::to_string(rates.size()));
              for (double p : rates)
                if (!(p >= 0.0 && p < 1.0))  // a rate of 1 or NaN would divide by zero
                  throw py::value_error("dropout rates must be in [0, 1), got " +
                                        std::to_string(p));
              e.dropout = rates.data();
            }
            e.dropout_seed = dropout_seed, e.first_step = first_step;
            e.clip_value = clip_value, e.clip_norm = clip_norm;
            nanomlp::Metrics metrics;
            if (track_loss) e.metrics = &metrics;

            auto* p = static_cast<float*>(params.mutable_data());
            const auto* xs = static_cast<const float*>(x.data());
            const bool ce = net.loss() == nanomlp::Loss::kCrossEntropy;
            const auto* os = static_cast<const int64_t*>(order.data());
            SignalPoll poll;
            int64_t steps;
            {
              py::gil_scoped_release nogil;
              std::lock_guard<std::mutex> lock(net.busy);
              if (ce)
                steps = net.train_epoch(p, slots, xs, static_cast<const int32_t*>(labels.data()),
                                        os, n, c, e, std::ref(poll));
              else
                steps = net.train_epoch(p, slots, xs, static_cast<const float*>(labels.data()), os,
                                        n, c, e, std::ref(poll));
            }
            poll.rethrow_if_interrupted();
            if (track_loss) return py::make_tuple(steps, metrics.loss_sum, metrics.weight_sum);
            return py::int_(steps);
          },
          py::arg("params"), py::arg("x"), py::arg("labels"), py::arg("order"), py::arg("lr"),
          py::kw_only(), py::arg("optimizer") = "sgd", py::arg("momentum") = 0.0,
          py::arg("nesterov") = false, py::arg("weight_decay") = 0.0,
          py::arg("betas") = std::make_pair(0.9, 0.999), py::arg("eps") = 1e-8,
          py::arg("amsgrad") = false, py::arg("alpha") = 0.99, py::arg("centered") = false,
          py::arg("state") = py::none(), py::arg("step") = 0, py::arg("sample_weight") = py::none(),
          py::arg("dropout") = py::none(), py::arg("dropout_seed") = 0, py::arg("first_step") = 0,
          py::arg("clip_value") = 0.0, py::arg("clip_norm") = 0.0, py::arg("velocity") = py::none(),
          py::arg("track_loss") = false,
          "One epoch over x[order] in place on params and the optimizer's state arrays (a dict "
          "of float32 arrays named as optim.py names them; or, for SGD, the original velocity= "
          "array); returns the number of steps. lr: one float64 per step, or one number. "
          "step: the optimizer's updates before this epoch. dropout: one rate per hidden layer. "
          "clip_value, clip_norm: 0 is off. track_loss: return (steps, Σ w·loss, Σ w) instead, "
          "the rows' losses from each step's forward pass, before its update (weights w: "
          "sample_weight's, else 1).")
      .def(
          "gradients",
          [](LockedNetwork& net, py::array params, py::array x, py::array labels) {
            require_params(net, params, false);
            require_x(net, x);
            require_targets(net, labels, x.shape(0));
            const int64_t B = x.shape(0);
            if (B < 1 || B > net.batch_size())
              throw py::value_error(
                  "x must have between 1 and batch_size=" + std::to_string(net.batch_size()) +
                  " rows, got " + std::to_string(B));
            py::array_t<float> grads(net.num_params());
            std::vector<int64_t> order(static_cast<size_t>(B));
            for (int64_t i = 0; i < B; ++i) order[i] = i;
            double loss;
            {
              py::gil_scoped_release nogil;
              std::lock_guard<std::mutex> lock(net.busy);
              const auto* ps = static_cast<const float*>(params.data());
              const auto* xs = static_cast<const float*>(x.data());
              if (net.loss() == nanomlp::Loss::kCrossEntropy)
                loss = net.gradients(grads.mutable_data(), ps, xs,
                                     static_cast<const int32_t*>(labels.data()), order.data(), B);
              else
                loss = net.gradients(grads.mutable_data(), ps, xs,
                                     static_cast<const float*>(labels.data()), order.data(), B);
            }
            return py::make_tuple(grads, loss);
          },
          py::arg("params"), py::arg("x"), py::arg("labels"),
          "Gradients of the mean loss over one batch, and that loss; params are not changed.")
      .def(
          "evaluate",
          [](LockedNetwork& net, py::array params, py::array x, py::object labels,
             bool return_proba) {
            require_params(net, params, false);
            require_x(net, x);
            const int64_t n = x.shape(0);
            const bool ce = net.loss() == nanomlp::Loss::kCrossEntropy;
            const void* ys = nullptr;
            py::array labels_array;
            if (!labels.is_none()) {
              labels_array = labels.cast<py::array>();
              require_targets(net, labels_array, n);
              ys = labels_array.data();
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
              std::lock_guard<std::mutex> lock(net.busy);
              const auto* ps = static_cast<const float*>(params.data());
              const auto* xs = static_cast<const float*>(x.data());
              metrics =
                  ce ? net.evaluate(ps, xs, static_cast<const int32_t*>(ys), n, out, std::ref(poll))
                     : net.evaluate(ps, xs, static_cast<const float*>(ys), n, out, std::ref(poll));
            }
            poll.rethrow_if_interrupted();
            return py::make_tuple(metrics.loss_sum, metrics.correct, proba);
          },
          py::arg("params"), py::arg("x"), py::arg("labels") = py::none(),
          py::arg("return_proba") = false,
          "Inference in bounded memory: (loss sum, correct count, probabilities or None).");

  py::module_ testing = m.def_submodule(
      "testing", "Hooks for the tests: the matrix kernels one by one, on any path this CPU runs.");
  bind_testing(testing);
}
