"""The cluster options of ``fmnist sweep`` and ``fmnist ablate``: each bad input is one line naming the option and
the fix, checked before any flow runs; good input becomes the task runner's cluster class, kwargs and bounds."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from fmnist.errors import FmnistError
from fmnist.experiments.cluster import ClusterSpec, parse_cluster_kwargs
from tests.cli import assert_one_line_error, fmnist, user_env

BROKEN_MODULE = """
raise RuntimeError("no scheduler configured\\nsee the second line of a long explanation")
"""
CLUSTERS_MODULE = """
class FakeCluster:
    pass

make_cluster = FakeCluster
not_a_class = FakeCluster()
"""


@pytest.fixture()
def modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two importable modules: ``fake_clusters`` (a class, a function, an instance) and ``broken_cluster``,
    which raises while being imported."""
    (tmp_path / "fake_clusters.py").write_text(CLUSTERS_MODULE)
    (tmp_path / "broken_cluster.py").write_text(BROKEN_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("fake_clusters", "broken_cluster"):
        monkeypatch.delitem(sys.modules, name, raising=False)


def test_no_options_are_the_default_local_cluster_of_fixed_size() -> None:
    assert ClusterSpec().adapt_kwargs == {}
    assert ClusterSpec(workers=4).describe() == "local:4"
    assert ClusterSpec(dask_address="tcp://127.0.0.1:8786").describe() == "tcp://127.0.0.1:8786"


def test_a_cluster_class_with_its_kwargs_and_bounds(modules: None) -> None:
    spec = ClusterSpec(
        cluster_class="fake_clusters.FakeCluster",
        cluster_kwargs={"n_workers": 2, "memory": "4GB"},
        adapt_min=1,
        adapt_max=8,
    )
    assert spec.cluster_class == "fake_clusters.FakeCluster"
    assert spec.cluster_kwargs == {"n_workers": 2, "memory": "4GB"}
    assert spec.adapt_kwargs == {"minimum": 1, "maximum": 8}
    # The label on the parent run names the class and bounds, never the kwargs (they may hold credentials).
    assert spec.describe() == "fake_clusters.FakeCluster adapt:1-8"


def test_the_real_local_cluster_class_imports() -> None:
    spec = ClusterSpec(cluster_class="distributed.LocalCluster", cluster_kwargs={"n_workers": 1})
    assert spec.cluster_class == "distributed.LocalCluster" and spec.adapt_kwargs == {}


def test_bounds_alone_scale_the_default_local_cluster_and_one_bound_keeps_dask_s_other() -> None:
    assert ClusterSpec(adapt_min=0, adapt_max=4, workers=2).adapt_kwargs == {"minimum": 0, "maximum": 4}
    assert ClusterSpec(adapt_max=4).adapt_kwargs == {"maximum": 4}
    assert ClusterSpec(adapt_min=2).adapt_kwargs == {"minimum": 2}
    assert ClusterSpec(adapt_min=0, adapt_max=4, workers=2).describe() == "local:2 adapt:0-4"
    assert ClusterSpec(adapt_max=4, workers=2).describe() == "local:2 adapt:0-4"
    assert ClusterSpec(adapt_min=2, workers=2).describe() == "local:2 adapt:2-inf"


def test_cluster_kwargs_parse_from_a_json_object() -> None:
    assert parse_cluster_kwargs(None) is None
    assert parse_cluster_kwargs('{"n_workers": 2, "resources": {"limits": {"cpu": "1"}}}') == {
        "n_workers": 2,
        "resources": {"limits": {"cpu": "1"}},
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("n_workers=2", "--cluster-kwargs 'n_workers=2' is not JSON (Expecting value"),
        ("{'n_workers': 2}", "is not JSON (Expecting property name enclosed in double quotes"),
        ("[2]", "--cluster-kwargs '[2]' is a JSON array, not an object"),
        ('"n_workers"', "is a JSON string, not an object"),
        ("2", "is a JSON number, not an object"),
        ("null", "is a JSON null, not an object"),
    ],
)
def test_cluster_kwargs_that_are_not_a_json_object(text: str, message: str) -> None:
    with pytest.raises(FmnistError) as caught:
        parse_cluster_kwargs(text)
    assert message in str(caught.value)
    assert """e.g. --cluster-kwargs '{"n_workers": 2}'""" in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"cluster_class": "distributed.LocalCluster", "dask_address": "tcp://127.0.0.1:8786"},
            "--cluster-class 'distributed.LocalCluster' and --dask-address 'tcp://127.0.0.1:8786': the run either"
            " starts a cluster or joins a running one; give one of them",
        ),
        (
            {"adapt_max": 4, "dask_address": "tcp://127.0.0.1:8786"},
            "--adapt-min/--adapt-max with --dask-address 'tcp://127.0.0.1:8786': a running cluster scales itself",
        ),
        ({"cluster_kwargs": {"n_workers": 2}}, "--cluster-kwargs without --cluster-class"),
        (
            {"cluster_class": "fake_clusters.FakeCluster", "workers": 4},
            "--workers 4 with --cluster-class 'fake_clusters.FakeCluster': --workers sizes the default local cluster",
        ),
        ({"adapt_min": -1}, "--adapt-min -1: give a number of workers, 0 or more"),
        ({"adapt_max": 0}, "--adapt-max 0: give a number of workers, 1 or more"),
        ({"adapt_min": 5, "adapt_max": 2}, "--adapt-min 5 is above --adapt-max 2; give min <= max"),
        (
            {"cluster_class": "fake_clusters.FakeCluster", "cluster_kwargs": {"asynchronous": True}},
            "--cluster-kwargs sets 'asynchronous', which the task runner sets; leave it out",
        ),
        ({"cluster_class": "LocalCluster"}, "--cluster-class 'LocalCluster': give an import path module.Class"),
        (
            {"cluster_class": "dask_no_such_package.SLURMCluster"},
            "--cluster-class 'dask_no_such_package.SLURMCluster': cannot import dask_no_such_package"
            " (ModuleNotFoundError: No module named 'dask_no_such_package'); install the package",
        ),
        (
            # The module's own error, first line only: the CLI prints one line.
            {"cluster_class": "broken_cluster.Cluster"},
            "cannot import broken_cluster (RuntimeError: no scheduler configured); install",
        ),
        (
            {"cluster_class": "fake_clusters.MissingCluster"},
            "--cluster-class 'fake_clusters.MissingCluster': module fake_clusters has no MissingCluster",
        ),
        (
            {"cluster_class": "fake_clusters.not_a_class"},
            "--cluster-class 'fake_clusters.not_a_class' is a FakeCluster, not a class",
        ),
    ],
)
def test_each_bad_combination_is_one_line_naming_its_options(
    modules: None, options: dict[str, object], message: str
) -> None:
    with pytest.raises(FmnistError) as caught:
        ClusterSpec(**options)  # type: ignore[arg-type]
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_function_is_not_a_cluster_class_even_one_that_makes_a_cluster(modules: None) -> None:
    # The alias is the class itself, so it is accepted; a plain function is not.
    assert ClusterSpec(cluster_class="fake_clusters.make_cluster").cluster_class == "fake_clusters.make_cluster"
    with pytest.raises(FmnistError, match=r"'json\.dumps' is a function, not a class"):
        ClusterSpec(cluster_class="json.dumps")


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (
            ["sweep", "--cluster-class", "distributed.LocalCluster", "--dask-address", "tcp://127.0.0.1:8786"],
            ["--cluster-class 'distributed.LocalCluster' and --dask-address"],
        ),
        (
            ["ablate", "--cluster-class", "dask_no_such_package.KubeCluster"],
            ["cannot import dask_no_such_package", "No module named"],
        ),
        (
            ["sweep", "--cluster-class", "distributed.LocalCluster", "--cluster-kwargs", "n_workers=2"],
            ["--cluster-kwargs 'n_workers=2' is not JSON"],
        ),
        (["ablate", "--adapt-min", "3", "--adapt-max", "1"], ["--adapt-min 3 is above --adapt-max 1"]),
    ],
)
def test_cli_rejects_bad_cluster_options_in_one_line(tmp_path: Path, args: list[str], needles: list[str]) -> None:
    result = fmnist(*args, cwd=tmp_path, env=user_env(tmp_path))
    assert_one_line_error(result, *needles)
    # Rejected before the flow started: nothing was downloaded or tracked.
    assert not (tmp_path / "data").exists() and not (tmp_path / "mlflow.db").exists()


def test_cli_help_documents_the_cluster_options(tmp_path: Path) -> None:
    for command in ("sweep", "ablate"):
        result = fmnist(command, "--help", cwd=tmp_path, env=user_env(tmp_path))
        assert result.returncode == 0
        for option in ("--cluster-class", "--cluster-kwargs", "--adapt-min", "--adapt-max"):
            assert option in result.stdout
