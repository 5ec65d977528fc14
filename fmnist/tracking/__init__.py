"""Everything that talks to MLflow; no other module of fmnist imports mlflow.

Layout: one experiment (``fmnist-pipeline`` unless ``FMNIST_EXPERIMENT`` says otherwise); one parent run per
pipeline execution; one child run per trial (tag ``framework``), nested under it; artifact names in
:mod:`fmnist.tracking.layout`. ``client`` holds :class:`Tracker`, the one way in; ``split_store`` publishes splits
to the artifact store for workers to fetch; ``pyfunc_model`` is the model ``mlflow models serve`` runs (logged as
code, never imported by fmnist).
"""

from __future__ import annotations

from fmnist.tracking import layout
from fmnist.tracking.client import Tracker, environment_params, tracking_uri

__all__ = ["Tracker", "environment_params", "layout", "tracking_uri"]
