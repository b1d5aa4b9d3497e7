"""nanomlp's engine behind scikit-learn's estimator interface: ``MLPClassifier`` and
``MLPRegressor``.

``_base.py`` holds what every estimator shares (parameters, optimizer, epoch loop, stopping
rules), ``classifier.py`` the classifier's labels and predictions, ``regressor.py`` the
regressor's targets. Importing this package imports scikit-learn (the ``sklearn`` extra);
importing nanomlp does not.
"""

from .classifier import MLPClassifier
from .regressor import MLPRegressor

__all__ = ["MLPClassifier", "MLPRegressor"]
