"""``python -m fmnist``: the same as the ``fmnist`` command."""

from fmnist.cli import main

main()
