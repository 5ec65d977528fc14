"""Model architectures (Keras and PyTorch mirror images) and their shared pieces.

Framework modules are not imported here, so importing `fmnist.models` loads neither framework.
"""
