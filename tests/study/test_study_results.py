"""lczmap study results: aggregation arithmetic (mean and standard error over seeds), the
summary table and the figures."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from lczmap.study import aggregate, make_figures, plot_figures, standard_error, summary_markdown


def _fake_results(rng):
    """A results table in the study's form (values drawn at random) to check the arithmetic on."""
    rows = []
    for method in ("sar-only", "finetune", "swd"):
        for labels in ("32", "128", "all"):
            for norm in ("batch", "instance"):
                for supcon in (False, True):
                    if method == "sar-only" and supcon:
                        continue
                    for seed in range(4):
                        acc = rng.uniform(0.2, 0.9)
                        rows.append(
                            {
                                "cell_id": f"{method}{labels}{norm}{supcon}{seed}",
                                "status": "ok",
                                "error": "",
                                "method": method,
                                "classes": "lowrise",
                                "labels": labels,
                                "norm": norm,
                                "supcon": supcon,
                                "seed": seed,
                                "accuracy": acc,
                                "kappa": acc - 0.1,
                                "seconds": rng.uniform(1, 9),
                            }
                        )
    rows[0].update(status="failed", error="DataError: boom", accuracy=np.nan, kappa=np.nan)
    return pd.DataFrame(rows)


def test_aggregate_mean_and_standard_error_match_numpy():
    df = _fake_results(np.random.default_rng(1))
    agg = aggregate(df)
    assert len(agg) == 3 * 2 * (2 + 2 + 1) * 1  # labels x norm x (methods x supcon)
    for r in agg.itertuples():
        g = df[(df.method == r.method) & (df.labels == r.labels) & (df.norm == r.norm) & (df.supcon == r.supcon)]
        ok = g[g.status == "ok"]["accuracy"].to_numpy()
        assert r.seeds == len(ok) and r.failed == len(g) - len(ok)
        assert r.accuracy_mean == pytest.approx(np.mean(ok))
        assert r.accuracy_se == pytest.approx(np.std(ok, ddof=1) / np.sqrt(len(ok)))
        kappa = g[g.status == "ok"]["kappa"].to_numpy()
        assert r.kappa_se == pytest.approx(np.std(kappa, ddof=1) / np.sqrt(len(kappa)))
    first = agg[(agg.method == "sar-only") & (agg.labels == "32") & (agg.norm == "batch")].iloc[0]
    assert (first.seeds, first.failed) == (3, 1)
    # paper order: labels numerically with 'all' last
    assert list(agg[(agg.method == "swd") & (agg.norm == "batch") & ~agg.supcon]["labels"]) == ["32", "128", "all"]
    assert math.isnan(standard_error([0.5])) and standard_error([0.2, 0.4]) == pytest.approx(0.1)


def test_summary_markdown_shows_percent_mean_and_standard_error():
    df = _fake_results(np.random.default_rng(2))
    agg = aggregate(df)
    text = summary_markdown(agg, title="twin")
    assert text.startswith("# twin\n")
    g = df[(df.method == "swd") & (df.labels == "128") & (df.norm == "instance") & df.supcon]["accuracy"].to_numpy()
    expected = f"{100 * g.mean():.1f} ± {100 * g.std(ddof=1) / np.sqrt(len(g)):.1f}"
    assert f"| lowrise | swd | instance | on | 128 | 4 | {expected} |" in text
    assert "| lowrise | sar-only | batch | off | 32 | 3 (1 failed) |" in text
    assert text.count("\n|") == len(agg) + 2


def test_figures_have_labels_legends_and_units(tmp_path):
    df = _fake_results(np.random.default_rng(3))
    df = pd.concat([df, df.assign(classes="urban", cell_id=df.cell_id + "u")])
    figures = make_figures(df, title="synthetic")
    assert set(figures) == {"accuracy_vs_labels.png", "norm.png", "supcon.png"}
    assert len(figures["accuracy_vs_labels.png"].axes) == 2  # one panel per class setting
    for fig in figures.values():
        assert "synthetic" in fig._suptitle.get_text()
        for ax in fig.axes:
            assert ax.get_xlabel() == "labelled SAR patches (count)"
            assert ax.get_ylabel() == "test accuracy (%)"
            assert [t.get_text() for t in ax.get_xticklabels()] == ["32", "128", "all"]
            legend = [t.get_text() for t in ax.get_legend().get_texts()]
            assert "chance (1 / classes)" in legend
    legend = [t.get_text() for t in figures["accuracy_vs_labels.png"].axes[0].get_legend().get_texts()]
    assert legend[:3] == ["SAR only", "fine-tune", "SWD transfer"]
    legend = [t.get_text() for t in figures["norm.png"].axes[0].get_legend().get_texts()]
    assert "SWD transfer, batch norm" in legend and "fine-tune, instance norm" in legend
    legend = [t.get_text() for t in figures["supcon.png"].axes[0].get_legend().get_texts()]
    assert "SWD transfer, SupCon" in legend and "fine-tune, no SupCon" in legend
    # a study without the norm/SupCon cells draws only the first figure
    only = df[(df.norm == "instance") & ~df.supcon]
    written = plot_figures(only, tmp_path)
    assert written == [tmp_path / "accuracy_vs_labels.png"]
    assert (tmp_path / "accuracy_vs_labels.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
