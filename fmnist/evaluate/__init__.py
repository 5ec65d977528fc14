"""Evaluation: metrics, statistics, the framework comparison, figures and the report."""
