"""The network written three times, as mirror images: Keras, PyTorch and NumPy (which holds what they share).
Imports nothing, so importing `fmnist.models` loads neither framework."""
