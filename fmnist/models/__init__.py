"""The network written three times, as mirror images: Keras, PyTorch and NumPy (which holds what they share).

Nothing is imported here, so importing `fmnist.models` loads neither framework.
"""
