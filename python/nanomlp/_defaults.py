"""The notebook's recipe, in one place: every default that reproduces it comes from here."""

from __future__ import annotations

LAYER_SIZES = (784, 128, 64, 10)
SEED = 42
LR = 0.01
BATCH_SIZE = 32
EPOCHS = 10
# The notebook holds out the last 5,000 training images for validation.
VAL_SIZE = 5000
