"""A plain PyTorch script of the reference network: what one would write without this project.

python benchmarks/reference/torch_plain.py SPLIT_DIR EPOCHS
"""

import sys

import numpy as np
import pyarrow.parquet as pq
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


def load(path):
    t = pq.read_table(path)
    x = np.frombuffer(t.column("pixels").combine_chunks().buffers()[1], np.uint8).reshape(-1, 784)
    return torch.from_numpy(x / np.float32(255)), torch.from_numpy(t.column("label").to_numpy().astype(np.int64))


def block(n_in, n_out):
    return [nn.Linear(n_in, n_out), nn.ReLU(), nn.BatchNorm1d(n_out), nn.Dropout(0.2)]


split_dir, epochs = sys.argv[1], int(sys.argv[2])
torch.set_num_threads(1)
torch.manual_seed(0)
x, y = load(f"{split_dir}/train.parquet")
xt, yt = load(f"{split_dir}/official_test.parquet")
model = nn.Sequential(*block(784, 128), *block(128, 64), *block(64, 32), nn.Linear(32, 10))
optimizer = torch.optim.Adam(model.parameters())
loss_fn = nn.CrossEntropyLoss()
for _ in range(epochs):
    model.train()
    for xb, yb in DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True):
        optimizer.zero_grad()
        loss_fn(model(xb), yb).backward()
        optimizer.step()
model.eval()
with torch.no_grad():
    print("official test accuracy", (model(xt).argmax(1) == yt).float().mean().item())
