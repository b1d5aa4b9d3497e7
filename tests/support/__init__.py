"""Helpers and fixtures shared by test modules; fixtures are registered in ``tests/conftest.py``.

``data``: an isolated environment and small MNIST-shaped files; ``mirror``: a loopback HTTP
mirror; ``processes``: killing a child process at the worst moment.
"""
