"""Ctrl-C during native training: KeyboardInterrupt within a second, a usable model left."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time

CHILD = textwrap.dedent(
    """
    import json, sys, time
    import numpy as np
    from nanomlp import MLP, Callback, Trainer
    from nanomlp.datasets import load_mnist

    (x, y), (x_test, y_test) = load_mnist(sys.argv[1])
    model = MLP(seed=42)
    trainer = Trainer(model, lr=0.01, batch_size=32, epochs=1000)

    class Ready(Callback):
        def on_train_begin(self, logs=None):
            print("training", flush=True)

    try:
        trainer.fit(x, y, callbacks=[Ready()])
        print(json.dumps({"error": "training finished without interruption"}))
    except KeyboardInterrupt:
        caught = time.monotonic()
        loss, acc = trainer.evaluate(x_test, y_test)
        print(json.dumps({"caught": caught, "finite": bool(np.isfinite(model.params).all()),
                          "loss": loss, "acc": acc, "proba": trainer.predict_proba(x_test[:5]).tolist()}))
    """
)


def test_sigint_stops_training_quickly_and_leaves_a_usable_model(mnist_dir):
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(mnist_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout.readline().strip() == "training", child.stderr.read()
        time.sleep(1.5)  # well inside the first epoch's steps
        sent = time.monotonic()
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    assert "error" not in result, result
    # CLOCK_MONOTONIC is one clock for every process on the machine.
    assert result["caught"] - sent < 1.0, (
        f"KeyboardInterrupt came {result['caught'] - sent:.2f} s after SIGINT"
    )
    assert result["finite"]
    assert 0.0 < result["loss"] < 3.0 and 0.05 < result["acc"] <= 1.0
    for row in result["proba"]:
        assert abs(sum(row) - 1.0) < 1e-5
