from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from fmnist.errors import FmnistError
from fmnist.evaluate.compare import REFERENCE_STUDY, Comparison, build_comparison, display_name
from fmnist.evaluate.stats import Interval, McNemarResult

OURS = {
    "keras": {"train/acc": 0.9321, "val/acc": 0.8954, "test/acc": 0.8911, "official_test/acc": 0.8876},
    "torch": {"train/acc": 0.9288, "val/acc": 0.8987, "test/acc": 0.8967, "official_test/acc": 0.8905},
}
CI = {"keras": Interval(0.8876, 0.8814, 0.8937), "torch": Interval(0.8905, 0.8844, 0.8966)}
DIFF = Interval(0.0029, -0.0012, 0.0071)
MCNEMAR = McNemarResult(b=211, c=240, p_value=0.187)


def _comparison() -> Comparison:
    return build_comparison(OURS, CI, DIFF, MCNEMAR)


def test_reference_study_numbers() -> None:
    assert REFERENCE_STUDY["keras"] == {"train/acc": 0.9169, "val/acc": 0.8901, "test/acc": 0.8918}
    assert REFERENCE_STUDY["torch"] == {"train/acc": 0.8216, "val/acc": 0.8791, "test/acc": 0.8709}
    assert "official_test/acc" not in REFERENCE_STUDY["keras"]


def test_rows_pair_reference_and_this_run_per_framework() -> None:
    rows = _comparison().rows
    assert [(r.framework, r.source) for r in rows] == [
        ("keras", "reference study"),
        ("keras", "this run"),
        ("torch", "reference study"),
        ("torch", "this run"),
    ]
    assert rows[0].accuracies == (0.9169, 0.8901, 0.8918, None)
    assert rows[3].accuracies == (0.9288, 0.8987, 0.8967, 0.8905)
    assert rows[1].official_ci == CI["keras"] and rows[0].official_ci is None


def test_verdict_uses_display_names_second_minus_first() -> None:
    assert _comparison().verdict == (
        "this PyTorch model vs this Keras model: +0.3 pt, 95% CI [-0.1, 0.7], p=0.19: no significant difference"
        " (one training each; --seeds N compares frameworks)"
    )
    swapped = build_comparison(OURS, CI, Interval(-0.0029, -0.0071, 0.0012), MCNEMAR, names=("torch", "keras"))
    assert swapped.verdict.startswith("this Keras model vs this PyTorch model: -0.3 pt")


def test_markdown_table() -> None:
    md = _comparison().to_markdown()
    lines = md.splitlines()
    assert lines[0] == "| Framework | Source | Train | Val | Test-900 | Official test (95% CI) |"
    assert lines[2] == "| Keras | reference study | 91.69 | 89.01 | 89.18 | — |"
    assert lines[3] == "| Keras | this run | 93.21 | 89.54 | 89.11 | 88.76 [88.14, 89.37] |"
    assert lines[4] == "| PyTorch | reference study | 82.16 | 87.91 | 87.09 | — |"
    assert all(line.count("|") == 7 for line in lines[:6])
    assert "**this PyTorch model vs this Keras model: +0.3 pt" in md
    assert "211 images only Keras got right, 240 only PyTorch" in md


class _TableText(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.cells: list[str] = []
        self._in_cell = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in_cell = tag in ("td", "th")
        if self._in_cell:
            self.cells.append("")

    def handle_endtag(self, tag: str) -> None:
        self._in_cell = False

    def handle_data(self, data: str) -> None:
        if self._in_cell:
            self.cells[-1] += data


def test_html_is_a_parseable_page_with_the_same_cells() -> None:
    page = _comparison().to_html()
    assert page.startswith("<!DOCTYPE html>")
    parser = _TableText()
    parser.feed(page)
    assert len(parser.cells) == 6 * 5  # header + four rows, six columns
    assert parser.cells[6:12] == ["Keras", "reference study", "91.69", "89.01", "89.18", "—"]
    assert "this PyTorch model vs this Keras model: +0.3 pt, 95% CI [-0.1, 0.7], p=0.19" in page


def test_html_escapes_framework_names() -> None:
    ours = {"<b>x</b>": OURS["keras"], "y&z": OURS["torch"]}
    ci = {"<b>x</b>": CI["keras"], "y&z": CI["torch"]}
    page = build_comparison(ours, ci, DIFF, MCNEMAR, names=("<b>x</b>", "y&z")).to_html()
    assert "<b>x</b>" not in page
    assert "&lt;b&gt;x&lt;/b&gt;" in page and "y&amp;z" in page


def test_metrics_for_mlflow() -> None:
    m = _comparison().metrics()
    assert m["compare/official_test_diff_pt"] == pytest.approx(0.29)
    assert m["compare/diff_ci_low_pt"] == pytest.approx(-0.12)
    assert m["compare/diff_ci_high_pt"] == pytest.approx(0.71)
    assert m["compare/mcnemar_p_value"] == 0.187
    assert (m["compare/mcnemar_b"], m["compare/mcnemar_c"]) == (211, 240)
    assert m["compare/keras/official_test_acc_ci_low"] == 0.8814
    assert m["compare/torch/official_test_acc_ci_high"] == 0.8966
    assert m["compare/torch/train_acc_minus_reference_pt"] == pytest.approx(92.88 - 82.16)
    assert [k for k in m if "mcnemar" in k and "p_value" in k] == ["compare/mcnemar_p_value"]
    assert all(re.fullmatch(r"[/\w.\- ]+", k, re.ASCII) for k in m)


def test_display_names() -> None:
    assert (display_name("keras"), display_name("torch"), display_name("jax")) == ("Keras", "PyTorch", "jax")


@pytest.mark.parametrize(
    ("ours", "ci", "match"),
    [
        ({"keras": OURS["keras"]}, CI, "torch"),
        ({**OURS, "torch": {"train/acc": 0.9}}, CI, "missing"),
        ({**OURS, "torch": {**OURS["torch"], "val/acc": 89.87}}, CI, r"\[0, 1\]"),
        (OURS, {**CI, "torch": Interval(89.05, 88.44, 89.66)}, "CI estimate"),
    ],
)
def test_bad_inputs_are_rejected(ours: dict, ci: dict, match: str) -> None:
    with pytest.raises(FmnistError, match=match):
        build_comparison(ours, ci, DIFF, MCNEMAR)
