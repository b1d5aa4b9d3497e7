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


# A network whose every step takes seconds: 784-4096-4096-10 at batch 4096, one step an epoch.
LARGE_CHILD = textwrap.dedent(
    """
    import json, sys, time
    import numpy as np
    from nanomlp import MLP, Callback, Trainer

    rng = np.random.default_rng(0)
    x = rng.random((4096, 784), dtype=np.float32)
    y = rng.integers(0, 10, 4096)
    model = MLP(layer_sizes=(784, 4096, 4096, 10), seed=1)
    start = model.params.copy()

    def trainer(m):
        return Trainer(m, lr=0.01, batch_size=4096, epochs=1000, threads=int(sys.argv[1]))

    class Ready(Callback):
        def on_train_begin(self, logs=None):
            print("training", flush=True)

    try:
        trainer(model).fit(x, y, callbacks=[Ready()])
        print(json.dumps({"error": "training finished without interruption"}))
    except KeyboardInterrupt:
        caught = time.monotonic()
        # The weights must be those after some whole number of steps (epochs, here).
        whole = None
        replay = MLP(layer_sizes=(784, 4096, 4096, 10), seed=1)
        for steps in range(4):
            if np.array_equal(model.params, replay.params):
                whole = steps
                break
            trainer(replay).fit(x, y, epochs=1)
        print(json.dumps({"caught": caught, "whole_steps": whole,
                          "finite": bool(np.isfinite(model.params).all()),
                          "moved_from_start": not np.array_equal(model.params, start)}))
    """
)


def test_sigint_abandons_a_long_step_and_keeps_the_weights_of_whole_steps():
    # One step here takes seconds; SIGINT must not wait for it to end. Interrupted before its
    # update began, the step is abandoned, so the weights are those of whole steps.
    for threads in (1, 2):
        child = subprocess.Popen(
            [sys.executable, "-c", LARGE_CHILD, str(threads)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert child.stdout.readline().strip() == "training", child.stderr.read()
            time.sleep(1.0)  # inside the first step: its forward pass alone takes longer
            sent = time.monotonic()
            child.send_signal(signal.SIGINT)
            out, err = child.communicate(timeout=300)
        finally:
            if child.poll() is None:
                child.kill()
        assert child.returncode == 0, err
        result = json.loads(out.strip().splitlines()[-1])
        assert "error" not in result, result
        delay = result["caught"] - sent
        assert delay < 0.5, f"threads={threads}: KeyboardInterrupt came {delay:.2f} s after SIGINT"
        assert result["finite"]
        assert result["whole_steps"] is not None, "the weights are not those of whole steps"
        assert result["moved_from_start"] == (result["whole_steps"] > 0)
