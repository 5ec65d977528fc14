"""Every artifact path and run-kind tag the project writes to MLflow, named once."""

from __future__ import annotations

# Child run: one trial (its checkpoints, architecture and logged model).
CHECKPOINTS_DIR = "checkpoints"
BEST_CHECKPOINT_DIR = "checkpoints/best"
MODEL_CONFIG_ARTIFACT = "model_config.json"
# The best checkpoint's weights as plain arrays, for scoring without a framework (`fmnist.models.numpy_net`).
NETWORK_ARRAYS_ARTIFACT = "network.npz"
MODEL_NAME = "model"


def dataset_name(split: str) -> str:
    """The MLflow dataset name of a split: the run's input and the dataset its evaluation metrics name."""
    return f"fmnist-{split}"


# Parent run: one pipeline, sweep or ablation (the comparison, its figures, the report).
COMPARISON_MD = "comparison/comparison.md"
COMPARISON_HTML = "comparison/comparison.html"
SWEEP_MD = "comparison/sweep.md"
ABLATION_MD = "comparison/ablation.md"
FIGURES_DIR = "figures"
REPORT_DIR = "report"
REPORT_FILES = ("report.html", "report.md")


def confusion_figure(framework: str) -> str:
    return f"{FIGURES_DIR}/confusion_{framework}.png"


PER_CLASS_F1_FIGURE = f"{FIGURES_DIR}/per_class_f1.png"
LEARNING_CURVES_FIGURE = f"{FIGURES_DIR}/learning_curves.png"
DISAGREEMENTS_FIGURE = f"{FIGURES_DIR}/disagreements.png"
ABLATION_FOREST_FIGURE = f"{FIGURES_DIR}/ablation_forest.png"


# A batch-scoring run (``fmnist score-batch``): a run of its own, tagged with its kind.
RUN_KIND_TAG = "fmnist.run_kind"
SCORE_BATCH_KIND = "score-batch"
SCORES_DIR = "scores"


# A labelled-batch run (``fmnist ingest --add``): the batch's drift checks.
DRIFT_MD = "drift/drift.md"

# A published split (``split_store="mlflow"``): a run of its own whose artifacts are the split folder.
SPLIT_DIR = "split"
