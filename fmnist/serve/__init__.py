"""Serving: batch prediction with a logged or registered model, and its input readers."""
