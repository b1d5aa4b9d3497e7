"""
Serve a trained network with onnxruntime
========================================

Train a small network on MNIST for a few epochs, export it to ONNX, run the file with
onnxruntime as a serving stack would, and compare its probabilities with nanomlp's own.
Needs ``pip install "nanomlp[onnx]"`` and MNIST (``NANOMLP_DATA``, or the download cache).
"""

# %%
# Train
# -----
# The notebook's network, three epochs of Adam on the first 20,000 training images.
import os
import tempfile

import matplotlib.pyplot as plt
import numpy as np
import onnxruntime as ort

from nanomlp import MLP, Trainer
from nanomlp.datasets import load_mnist

(x_train, y_train), (x_test, y_test) = load_mnist(os.environ.get("NANOMLP_DATA"))
model = MLP((784, 128, 64, 10), activation="gelu", seed=0)
trainer = Trainer(model, optimizer="adam", batch_size=128, epochs=3)
trainer.fit(x_train[:20000], y_train[:20000])
print("test loss, accuracy:", trainer.evaluate(x_test, y_test))

# %%
# Export
# ------
# One Gemm per layer (weights stored ``[out, in]``, ``transB=1``), the activation, a Softmax;
# opset 17 and IR version 8, which onnxruntime 1.13 and later load. The batch is dynamic.
path = os.path.join(tempfile.mkdtemp(), "mnist.onnx")
model.to_onnx(path)
print(f"{path}: {os.path.getsize(path) / 1024:.0f} KiB")

# %%
# Serve
# -----
# All a server needs: onnxruntime and the file. The input is ``input`` (float32,
# ``[batch, 784]``), the output ``output`` (the ten probabilities).
session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
probabilities = session.run(["output"], {"input": x_test})[0]
print("onnxruntime accuracy:", float((probabilities.argmax(axis=1) == y_test).mean()))

# %%
# Compare
# -------
# The same probabilities as nanomlp's engine, within float32 rounding.
difference = np.abs(probabilities - trainer.predict_proba(x_test))
print(f"max |onnxruntime - predict_proba| = {difference.max():.2e}")

fig, ax = plt.subplots(figsize=(6, 3))
ax.hist(difference.ravel(), bins=50, log=True)
ax.set_xlabel("|onnxruntime − predict_proba|")
ax.set_ylabel("outputs")
ax.set_title("10,000 test images × 10 classes")
fig.tight_layout()
