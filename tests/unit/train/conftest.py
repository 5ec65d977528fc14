from fmnist.train.keras_backend import configure_threads

# TensorFlow fixes its thread pools when it first runs an op; pin them before any test does,
# so every trainer in this process runs on the 1 thread its TrainConfig asks for.
configure_threads(1)
