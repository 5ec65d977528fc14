"""Everything that talks to MLflow; no other module of fmnist imports mlflow.

:class:`Tracker` is the one way in; the runs it writes: docs/usage.md, 'What MLflow holds'.
"""

from __future__ import annotations

from fmnist.tracking import layout
from fmnist.tracking.client import Tracker, environment_params, tracking_uri

__all__ = ["Tracker", "environment_params", "layout", "tracking_uri"]
