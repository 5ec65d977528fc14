"""Everything that talks to MLflow; no other module of fmnist imports mlflow.

Layout: one experiment (``fmnist-pipeline`` unless ``FMNIST_EXPERIMENT`` says otherwise); one parent run per
pipeline execution; one child run per trial (tag ``framework``), nested under it; artifact names in
:mod:`fmnist.tracking.layout`.

- ``client``: :class:`Tracker`, the one way in;
- ``environment``: versions logged next to a result, pins of a logged model;
- ``model_uri``: the model URIs fmnist understands;
- ``sender``: metrics sent in the background, in order;
- ``split_store``: splits published to the artifact store and fetched, verified, by each worker;
- ``pyfunc_model``: the model ``mlflow models serve`` runs (logged as code, never imported by fmnist).
"""

from __future__ import annotations

from fmnist.tracking import layout
from fmnist.tracking.client import Tracker, tracking_uri
from fmnist.tracking.environment import environment_params

__all__ = ["Tracker", "environment_params", "layout", "tracking_uri"]
