"""Experiments over many trainings: sweeps (and their trials)."""
