"""labkit.tune: the search budget, the stopping rule, and the committed tuning file (issue 18)."""

import copy
import json

import numpy as np
import pytest

from labkit import baselines, results, tune


def test_configurations_are_seeded_distinct_points_of_the_space():
    space = {"lr": [0.001, 0.01, 0.1], "k": [8, 16, 32], "wd": [0.0, 1e-4], "act": ["sigmoid", None]}
    a, b = tune.configurations(space, 12, seed=0), tune.configurations(space, 12, seed=0)
    assert a == b and len(a) == 12
    assert len({json.dumps(c, sort_keys=True) for c in a}) == 12
    assert all(c[k] in space[k] for c in a for k in space)
    assert tune.configurations(space, 12, seed=1) != a
    small = {"lr": [0.1, 0.01], "k": [4, 8]}
    assert tune.configurations(small, 12) == [{"lr": 0.1, "k": 4}, {"lr": 0.1, "k": 8},
                                              {"lr": 0.01, "k": 4}, {"lr": 0.01, "k": 8}]


def test_stopping_never_stops_while_warming_up():
    s = tune.Stopping(max_epochs=30, patience=5, min_epochs=8)
    flat_then_rising = [0.01] * 7 + [0.02, 0.05, 0.08]
    assert not any(s.update(v) for v in flat_then_rising)
    assert s.best_epoch == 10


def test_stopping_patience_and_the_budget_flag():
    s = tune.Stopping(max_epochs=30, patience=5, min_epochs=8)
    stops = [s.update(v) for v in [0.1, 0.2, 0.3] + [0.25] * 5]
    assert stops == [False] * 7 + [True] and s.best_epoch == 3 and not s.still_improving
    s = tune.Stopping(max_epochs=10, patience=5, min_epochs=8)
    stops = [s.update(0.01 * e) for e in range(1, 11)]
    assert stops[-1] and not any(stops[:-1]) and s.still_improving


def test_stopping_patience_starts_only_after_the_first_improvement_on_epoch_one():
    # 04's search: trials flat at their epoch-1 value were stopped at epoch 8 ("best epoch 1").
    # Patience counts only once a later epoch beat epoch 1; a trial flat until epoch 12 that then
    # rises is never stopped while rising.
    s = tune.Stopping(max_epochs=30, patience=5, min_epochs=8)
    late = [0.05] * 12 + [0.06, 0.07, 0.08]
    assert not any(s.update(v) for v in late)
    assert s.best_epoch == 15 and not s.never_improved
    # A trial that never beats its first epoch ends at the warm-up limit, flagged, not "still improving".
    s = tune.Stopping(max_epochs=30, patience=5, min_epochs=8, warmup_limit=15)
    stops = [s.update(v) for v in [0.05] + [0.04] * 14]
    assert stops == [False] * 14 + [True] and s.never_improved and not s.still_improving
    # A budget shorter than the patience (smoke runs): a flat trial is not "still improving".
    s = tune.Stopping(max_epochs=2, patience=5, min_epochs=2, warmup_limit=2)
    assert [s.update(v) for v in (0.05, 0.04)] == [False, True] and s.never_improved and not s.still_improving
    # Once warmed up, the usual patience: improved at epoch 2, stopped 5 epochs after its best (min 8).
    s = tune.Stopping(max_epochs=30, patience=5, min_epochs=8, warmup_limit=15)
    stops = [s.update(v) for v in [0.05, 0.06] + [0.055] * 10]
    assert stops.index(True) == 7 and s.best_epoch == 2 and not s.never_improved


def test_stopping_counts_only_improvements_of_at_least_min_delta():
    # 04's search: two stuck trials "improved" in the 7th decimal at epoch 2, which ended their
    # warm-up, and ran to epoch 8. Only a gain above MIN_DELTA ends the warm-up or resets patience.
    assert 0 < tune.MIN_DELTA < 1 / 943          # below one user's hit on ML-100K's 943 users
    s = tune.Stopping(max_epochs=30, patience=5, min_epochs=8, warmup_limit=15)
    stops = [s.update(v) for v in [0.05, 0.05 + 3e-7] + [0.05 - 1e-3] * 13]
    assert stops == [False] * 14 + [True] and s.never_improved and not s.still_improving
    assert s.best_epoch == 2 and s.best == 0.05 + 3e-7          # the true maximum is still reported
    # Creeping below MIN_DELTA per epoch does not reset patience: stops 5 epochs after the last real gain.
    s = tune.Stopping(max_epochs=30, patience=5, min_epochs=8, warmup_limit=15)
    creeping = iter([0.05, 0.06, 0.07] + [0.07 + 1e-6 * e for e in range(1, 28)])
    while not s.update(next(creeping)):
        pass
    assert s.epochs == 8 and s.best_epoch == 8 and not s.never_improved
    # One more user's hit (1/943) is an improvement.
    s = tune.Stopping(max_epochs=30, patience=5, min_epochs=8, warmup_limit=15)
    assert not any(s.update(v) for v in [0.05 + e / 943 for e in range(10)])
    # At the budget, "still improving" judges the last real improvement.
    s = tune.Stopping(max_epochs=8, patience=5, min_epochs=8)
    assert [s.update(v) for v in [0.1, 0.2] + [0.2 + 1e-6 * e for e in range(1, 7)]] == [False] * 7 + [True]
    assert s.best_epoch == 8 and not s.still_improving


def test_search_runs_every_configuration_and_chooses_on_validation(capsys):
    def trial(config, stopping):
        for epoch in range(1, 100):
            if stopping.update(config["lr"] * min(epoch, 4)):
                break

    trials = tune.search({"lr": [0.1, 0.3, 0.2]}, trial, "score", n=12, max_epochs=20)
    assert [t["config"]["lr"] for t in trials] == [0.1, 0.3, 0.2]
    assert [t["best_epoch"] for t in trials] == [4, 4, 4] and all(t["epochs"] == 9 for t in trials)
    assert capsys.readouterr().out.count(tune.PREFIX) == 3
    assert not any(t["never_improved"] for t in trials)
    entry = tune.make_entry("nb", "ds", {"lr": [0.1, 0.3, 0.2]}, trials, "score", 20)
    assert entry["choice"]["config"] == {"lr": 0.3} and entry["choice"]["epochs"] == 4


def test_search_records_a_trial_that_never_beat_its_first_epoch(capsys):
    def trial(config, stopping):
        for epoch in range(1, 100):
            if stopping.update(1.0 / epoch):      # falling from the start: never better than epoch 1
                break

    [t] = tune.search({"lr": [0.1]}, trial, "score", max_epochs=30)
    assert t["never_improved"] and t["epochs"] == tune.WARMUP_LIMIT and not t["still_improving"]
    assert "never better than its first epoch" in capsys.readouterr().out
    assert tune.make_entry("nb", "ds", {"lr": [0.1]}, [t], "score")["never_improved"] == 1


def test_shrinkage_zero_is_labkit_item_knn():
    rng = np.random.default_rng(0)
    X = (rng.random((40, 15)) < 0.3).astype(np.float32)
    assert np.allclose(tune.item_similarity_shrunk(X, 5, 0.0), baselines.item_similarity(X, 5), atol=1e-6)
    shrunk = tune.item_similarity_shrunk(X, None, 10.0)
    assert (shrunk <= baselines.item_similarity(X) + 1e-7).all() and shrunk.max() > 0


def _executed(path, entry):
    nb = {"cells": [{"cell_type": "code", "outputs": [{"output_type": "display_data",
                                                         "data": {results.MIME: {"name": "tune", "value": entry}}}]}]}
    path.write_text(json.dumps(nb))
    return path


def test_collect_merges_searches_per_notebook_and_dataset(tmp_path):
    trial = {"config": {"lr": 0.1}, "value": 0.2, "best_epoch": 3, "epochs": 8, "still_improving": False,
             "seconds": 1.0, "cpu_seconds": 1.0}
    a = tune.make_entry("03_x", "ml-100k", {"lr": [0.1]}, [trial], "hit@10")
    b = tune.make_entry("03_x", "ml-1m", {"lr": [0.1]}, [trial], "hit@10")
    into = tmp_path / "tuning.json"
    tune.collect([_executed(tmp_path / "a.ipynb", a)], into)
    content = tune.collect([_executed(tmp_path / "b.ipynb", b)], into)
    assert set(content["03_x"]) == {"ml-100k", "ml-1m"}
    assert tune.load("03_x", "ml-1m", into)["choice"]["config"] == {"lr": 0.1}
    with pytest.raises(ValueError, match="recorded no search"):
        tune.collect([_executed(tmp_path / "c.ipynb", None)], into)


def test_committed_tuning_file_matches_the_notebooks_search_spaces():
    assert tune.tunable(), "no notebook takes TUNE"
    problems = tune.check_spaces()
    assert not problems, "\n".join(problems)
    assert len(tune.missing()) < len(tune.tunable()), "no notebook has a committed search"


def test_the_space_check_catches_a_changed_space_or_a_choice_not_made_on_validation(tmp_path):
    content = json.loads(tune.TUNING_FILE.read_text())
    stem, by_dataset = next(iter(content.items()))
    dataset = next(iter(by_dataset))
    changed = copy.deepcopy(content)
    name = next(iter(changed[stem][dataset]["space"]))
    changed[stem][dataset]["space"][name] = changed[stem][dataset]["space"][name][:-1]
    (tmp_path / "a.json").write_text(json.dumps(changed))
    assert any("space differs" in p for p in tune.check_spaces(tmp_path / "a.json"))
    changed = copy.deepcopy(content)
    worst = min(changed[stem][dataset]["trials"], key=lambda t: t["value"])
    changed[stem][dataset]["choice"]["config"] = worst["config"]
    (tmp_path / "b.json").write_text(json.dumps(changed))
    assert any("not the best trial" in p for p in tune.check_spaces(tmp_path / "b.json"))
    changed = copy.deepcopy(content)
    changed[stem][dataset]["trials"] = changed[stem][dataset]["trials"][:-1]
    (tmp_path / "c.json").write_text(json.dumps(changed))
    assert any("trials, not 12" in p for p in tune.check_spaces(tmp_path / "c.json"))
    for key, value in (("min_delta", 0.0), ("warmup_limit", None), ("patience", 3)):  # a search under another rule
        changed = copy.deepcopy(content)
        changed[stem][dataset]["rule"][key] = value
        (tmp_path / "d.json").write_text(json.dumps(changed))
        assert any("not the course's stopping rule" in p for p in tune.check_spaces(tmp_path / "d.json")), key
        assert not any("stopping rule" in p for p in tune.check_spaces(tmp_path / "d.json", strict=False))


def test_every_tunable_notebook_uses_the_one_budget_and_rule():
    from labkit.report import parameter_values

    for path in tune.tunable():
        values = parameter_values(path, injected=False)
        assert values["TUNE"] is False, path.stem
        assert values["TUNE_TRIALS"] == tune.TRIALS and values["TUNE_MAX_EPOCHS"] == tune.MAX_EPOCHS, path.stem
        assert values.get("TUNED_EPOCHS") is None, path.stem
        assert tune.notebook_space(path), f"{path.stem}: no literal SPACE"


def test_the_notebooks_baseline_grids_are_the_courses():
    """Every model lesson's EASE_LAMBDAS / KNN_GRID parameters (there for the smoke runs and the quick
    ML-1M-sized pass, which narrow them) default to labkit.tune's one grid, so every protocol searches
    the same."""
    from labkit import report

    seen = 0
    for path in report.discover():
        values = report.parameter_values(path, injected=False)
        if "KNN_GRID" in values:
            assert values["KNN_GRID"] == tune.KNN_GRID, path.name
            seen += 1
        if "EASE_LAMBDAS" in values and path.stem != "01b_baselines":
            assert tuple(values["EASE_LAMBDAS"]) == tune.EASE_LAMBDAS, path.name
    assert seen == len([p for p in report.discover() if p.stem[:2] in ("02", "03", "04", "05", "06", "07")])
