"""Models that leave nanomlp and models that come in.

- ``onnx``: ``to_onnx``, a graph of Gemm and activation nodes for onnxruntime;
- ``safetensors``: ``save_safetensors`` / ``load_safetensors``, tensors under the names of the
  equivalent ``torch.nn.Sequential``;
- ``torch``: ``from_torch`` (an ``nn.Sequential`` or its ``state_dict``) and ``to_torch``;
- ``sklearn``: ``from_sklearn`` and ``to_sklearn``, scikit-learn's fitted ``MLPClassifier``
  and ``MLPRegressor``.

Each needs its optional package (``pip install "nanomlp[onnx]"``, ``[safetensors]``,
``[sklearn]``, or PyTorch), imported only when called: without them nanomlp imports, and the
function says which extra to install.
"""

from __future__ import annotations

__all__ = ["onnx", "safetensors", "sklearn", "torch"]
