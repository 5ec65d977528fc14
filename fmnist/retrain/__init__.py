"""Retraining that reacts to data: labelled batches, their drift checks, and whether a retrain has a reason."""
