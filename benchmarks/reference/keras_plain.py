"""A plain Keras script of the reference network: what one would write without this project.

python benchmarks/reference/keras_plain.py SPLIT_DIR EPOCHS
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import pyarrow.parquet as pq
import tensorflow as tf

tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)


def load(path):
    t = pq.read_table(path)
    x = np.frombuffer(t.column("pixels").combine_chunks().buffers()[1], np.uint8).reshape(-1, 784)
    return x / np.float32(255), t.column("label").to_numpy()


split_dir, epochs = sys.argv[1], int(sys.argv[2])
keras.utils.set_random_seed(0)
x, y = load(f"{split_dir}/train.parquet")
xt, yt = load(f"{split_dir}/official_test.parquet")
layers = [keras.Input((784,))]
for width in (128, 64, 32):
    layers += [
        keras.layers.Dense(width, activation="relu", kernel_initializer="he_normal"),
        keras.layers.BatchNormalization(),
        keras.layers.Dropout(0.2),
    ]
model = keras.Sequential([*layers, keras.layers.Dense(10, activation="softmax")])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(x, y, batch_size=64, epochs=epochs, verbose=0)
print("official test accuracy", model.evaluate(xt, yt, verbose=0)[1])
