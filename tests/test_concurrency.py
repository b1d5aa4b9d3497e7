"""Threads: the engine runs without the GIL, so Python threads really overlap in it.

Two trainers in two threads give exactly the results they give one after the other; one model
trained from two threads at once is refused; predictions from several threads share a
Trainer's engine (one call at a time per ``_core.Network``) and are exact.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

import numpy as np
import pytest

from nanomlp import MLP, Trainer, _core
from nanomlp.callbacks import Callback


def data(seed: int, rows: int = 600, features: int = 20, classes: int = 4):
    rng = np.random.default_rng(seed)
    x = rng.random((rows, features), dtype=np.float32)
    y = rng.integers(0, classes, rows)
    return x, y


def run_threads(*targets: Callable[[], Any]) -> list[Any]:
    """Run each target in its own thread, all started together; their results, or re-raise."""
    results: list[Any] = [None] * len(targets)
    errors: list[BaseException] = []
    start = threading.Barrier(len(targets))

    def wrap(i: int, target: Callable[[], Any]) -> None:
        start.wait()
        try:
            results[i] = target()
        except BaseException as err:  # re-raised in the main thread
            errors.append(err)

    threads = [threading.Thread(target=wrap, args=(i, t)) for i, t in enumerate(targets)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


@pytest.mark.parametrize("backend", ["native", "numpy"])
def test_two_trainers_in_two_threads_equal_one_after_the_other(backend):
    sets = [data(1), data(2)]

    def train(seed: int, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, dict]:
        model = MLP((20, 16, 4), seed=seed)
        history = Trainer(
            model, lr=0.1, batch_size=16, epochs=3, backend=backend, threads=2, momentum=0.9
        ).fit(x, y)
        return model.params.copy(), history.history

    sequential = [train(seed, *xy) for seed, xy in enumerate(sets)]
    for _ in range(3):
        concurrent = run_threads(
            *(lambda s=seed, xy=xy: train(s, *xy) for seed, xy in enumerate(sets))
        )
        for (p_seq, h_seq), (p_con, h_con) in zip(sequential, concurrent):
            np.testing.assert_array_equal(p_con, p_seq)
            assert {k: v for k, v in h_con.items() if k != "epoch_seconds"} == {
                k: v for k, v in h_seq.items() if k != "epoch_seconds"
            }


class Rendezvous(Callback):
    """At the first epoch, lets another thread act while this fit is under way."""

    def __init__(self, other: Callable[[], None]) -> None:
        super().__init__()
        self.other = other
        self.done = False

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        if not self.done:
            self.done = True
            run_threads(self.other)  # a second thread, while this one is inside fit


def test_one_model_from_two_threads_is_refused():
    model = MLP((20, 8, 4), seed=0)
    x, y = data(0)
    refused: list[RuntimeError] = []

    def second_fit() -> None:
        with pytest.raises(RuntimeError) as info:
            Trainer(model, epochs=1, threads=1).fit(x, y)
        refused.append(info.value)

    before = model.params.copy()
    Trainer(model, epochs=2, threads=1).fit(x, y, callbacks=[Rendezvous(second_fit)])
    assert len(refused) == 1
    message = str(refused[0])
    assert repr(model) in message and "being trained in another thread" in message
    # The refused fit changed nothing: the first one trained as if alone.
    alone = MLP((20, 8, 4), seed=0)
    np.testing.assert_array_equal(alone.params, before)
    Trainer(alone, epochs=2, threads=1).fit(x, y)
    np.testing.assert_array_equal(model.params, alone.params)
    # Once the first fit is over the model is free again.
    Trainer(model, epochs=1, threads=1).fit(x, y)


def test_the_training_thread_may_fit_again_and_other_models_are_free():
    model, other = MLP((20, 8, 4), seed=0), MLP((20, 8, 4), seed=1)
    x, y = data(0)
    inner: list[Any] = []

    class FitInside(Callback):
        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            if epoch == 0:
                inner.append(Trainer(model, epochs=1, threads=1).fit(x, y))  # same thread
                inner.append(run_threads(lambda: Trainer(other, epochs=1, threads=1).fit(x, y)))

    Trainer(model, epochs=2, threads=1).fit(x, y, callbacks=[FitInside()])
    assert len(inner) == 2


def test_a_failed_fit_releases_the_model():
    model = MLP((20, 8, 4), seed=0)
    x, y = data(0)
    with pytest.raises(ValueError):
        Trainer(model, epochs=1).fit(x, y[:-1])
    run_threads(lambda: Trainer(model, epochs=1, threads=1).fit(x, y))


def test_predict_from_many_threads_on_one_trainer_is_exact():
    """Before each Network took one call at a time, these calls shared its workspaces."""
    model = MLP((20, 64, 32, 4), seed=3)
    x, y = data(3, rows=2000)
    trainer = Trainer(model, epochs=1, threads=2)
    trainer.fit(x, y)
    inputs = [data(10 + i, rows=700 + 300 * i)[0] for i in range(6)]
    expected = [trainer.predict_proba(xi) for xi in inputs]
    expected_eval = trainer.evaluate(x, y)

    def predict_many(i: int) -> list[Any]:
        out = []
        for _ in range(8):
            out.append(trainer.predict_proba(inputs[i]))
            out.append(trainer.evaluate(x, y))
        return out

    results = run_threads(*(lambda i=i: predict_many(i) for i in range(len(inputs))))
    for i, out in enumerate(results):
        for probs, metrics in zip(out[::2], out[1::2]):
            np.testing.assert_array_equal(probs, expected[i])
            assert metrics == expected_eval


def test_one_core_network_shared_by_threads_gives_each_call_its_own_result():
    net = _core.Network([20, 32, 4], 16, threads=2)
    rng = np.random.default_rng(0)
    params = [rng.standard_normal(net.num_params).astype(np.float32) * 0.3 for _ in range(4)]
    x, y = data(5, rows=900)
    labels = y.astype(np.int32)
    order = np.arange(len(x), dtype=np.int64)

    def work(p: np.ndarray) -> tuple:
        trained = p.copy()
        steps = net.train_epoch(trained, x, labels, order, 0.05)
        grads, loss = net.gradients(p, x[:16], labels[:16])
        return trained, steps, grads, loss, net.evaluate(p, x, labels, True)

    expected = [work(p) for p in params]
    for got, want in zip(run_threads(*(lambda p=p: work(p) for p in params)), expected):
        np.testing.assert_array_equal(got[0], want[0])
        assert got[1] == want[1]
        np.testing.assert_array_equal(got[2], want[2])
        assert got[3] == want[3]
        assert got[4][:2] == want[4][:2]
        np.testing.assert_array_equal(got[4][2], want[4][2])
