"""nanomlp's engine behind scikit-learn's estimator interface: ``MLPClassifier``.

``_base.py`` holds what every estimator shares (parameters, optimizer, epoch loop, stopping
rules), ``classifier.py`` the classifier's labels and predictions. Importing this package
imports scikit-learn (the ``sklearn`` extra); importing nanomlp does not.
"""

from .classifier import MLPClassifier

__all__ = ["MLPClassifier"]
