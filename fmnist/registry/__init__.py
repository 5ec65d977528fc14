"""The model registry: the promotion rule (pure) and registration."""
