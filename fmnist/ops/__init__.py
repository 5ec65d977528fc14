"""Operating the local stack: the Prefect and MLflow servers and the worker, on this machine."""
