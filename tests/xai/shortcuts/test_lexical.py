"""The lexical checks: sentence codes read from the corpus, a probe that finds the sentence where the features carry it,
a UAR spread by sentence judged against its permutation null, and a corpus without codes skipped, never an error."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from seraudit.preprocessing.corpora import read_corpus
from seraudit.xai.audit.checks import overall_status
from seraudit.xai.shortcuts.features import RunFeatures
from seraudit.xai.shortcuts.lexical import lexical_checks, lexical_codes, lexical_probe, statement_uar
from seraudit.xai.shortcuts.rules import FAIL, PASS, SKIPPED, WARN

N_SPEAKERS, N_EMOTIONS, PER_CELL = 6, 4, 4  # per speaker, emotion and sentence


def table(seed: int = 0) -> pd.DataFrame:
    """6 speakers x 4 emotions x 2 sentences x 4 clips, RAVDESS-like sentence codes."""
    rows = [(f"s{s}", e, t) for s in range(N_SPEAKERS) for e in range(N_EMOTIONS) for t in ("01", "02")
            for _ in range(PER_CELL)]
    return pd.DataFrame({"path": [f"/c/{i}.wav" for i in range(len(rows))], "speaker": [r[0] for r in rows],
                         "label": [f"e{r[1]}" for r in rows], "text": [r[2] for r in rows]})


def features(t: pd.DataFrame, sentence_scale: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    direction = rng.normal(0, 1, 30)
    sign = np.where(t["text"] == "02", 1.0, -1.0)[:, None]
    speaker = rng.normal(0, 2, (N_SPEAKERS, 30))[t["speaker"].str[1:].astype(int)]
    return sentence_scale * sign * direction + speaker + rng.normal(0, 1, (len(t), 30))


def test_the_ravdess_reader_gives_the_statement_of_every_clip(ravdess_dir):
    codes, reason = lexical_codes(read_corpus("ravdess", ravdess_dir))
    assert reason is None and set(codes) == {"01", "02"}


def test_a_corpus_without_codes_is_not_applicable():
    plain = table().drop(columns="text")
    assert lexical_codes(plain)[0] is None and "no sentence" in lexical_codes(plain)[1]
    assert lexical_codes(table().assign(text=None))[0] is None
    one = table().assign(text="01")
    assert lexical_codes(one)[0] is None and "fewer than two" in lexical_codes(one)[1]


def test_a_probe_finds_the_sentence_where_the_features_carry_it():
    t = table()
    codes, _ = lexical_codes(t)
    carried = lexical_probe(features(t, 1.5), codes, t["speaker"], n_permutations=3)
    absent = lexical_probe(features(t, 0.0), codes, t["speaker"], n_permutations=3)
    assert carried["chance"] == 0.5 and carried["accuracy"] > 0.95 and max(carried["permuted"]) < 0.7
    assert abs(absent["accuracy"] - 0.5) < 0.12


def predictions(t: pd.DataFrame, sentence_matters: bool, seed: int = 0) -> np.ndarray:
    """Right on every "02" clip and at chance on "01" clips, or at a 60 % hit rate on both."""
    rng = np.random.default_rng(seed)
    guess = np.array([f"e{i}" for i in rng.integers(0, N_EMOTIONS, len(t))])
    if sentence_matters:
        return np.where(t["text"] == "02", t["label"], guess)
    return np.where(rng.random(len(t)) < 0.6, t["label"], guess)


def test_uar_that_differs_by_sentence_lies_beyond_its_null():
    t = table()
    codes, _ = lexical_codes(t)
    differs = statement_uar(t["label"], predictions(t, True), codes, t["speaker"], n_boot=100)
    same = statement_uar(t["label"], predictions(t, False), codes, t["speaker"], n_boot=100)
    assert differs["per_code"]["02"]["uar"] == 100.0 and differs["spread"] > 50 > differs["null_q95"]
    assert same["spread"] <= same["null_q95"] + 5


class Run:
    results = {"models": {"m": {"display_name": "Model M"}}}

    def __init__(self, t: pd.DataFrame, predicted: np.ndarray):
        self.predictions = t.assign(model="m", prediction=predicted)


@pytest.mark.parametrize("scale, matters, probe_status, uar_status", [(1.5, True, WARN, FAIL), (0.0, False, PASS, PASS)])
def test_the_checks_read_as_the_rules_say(scale, matters, probe_status, uar_status):
    t = table()
    run = Run(t, predictions(t, matters))
    f = RunFeatures(table=t, labels=[], y=np.zeros(len(t)), speakers=t["speaker"].to_numpy(), features={"m": features(t, scale)})
    probe, by_sentence = lexical_checks(run, ["m"], features=f, n_permutations=3)
    assert (probe["id"], by_sentence["id"]) == ("shortcut.lexical_probe.m", "shortcut.lexical_uar.m")
    assert (probe["status"], by_sentence["status"]) == (probe_status, uar_status)
    assert set(by_sentence["per_code"]) == {"01", "02"} and by_sentence["threshold"] == 10.0


def test_a_corpus_without_codes_gives_skipped_checks_that_never_change_the_verdict():
    t = table().drop(columns="text")
    checks = lexical_checks(Run(t, t["label"].to_numpy()), ["m"], table=t)  # no features needed, none computed
    assert [c["id"] for c in checks] == ["shortcut.lexical_probe.m", "shortcut.lexical_uar.m"]
    assert {c["status"] for c in checks} == {SKIPPED} and all(c["value"] is None for c in checks)
    assert all("no sentence" in c["reason"] and c["figure"].startswith("not applicable") for c in checks)
    assert overall_status([*checks, {"status": PASS}]) == PASS


def test_the_probe_cannot_read_the_sentence_off_who_says_it():
    """Each speaker says mostly one sentence and the features carry only the speaker: tested on unseen speakers, the
    probe is near chance (clip-level folds would score near 100 %)."""
    t = table()
    parity = t["speaker"].str[1:].astype(int) % 2
    rng = np.random.default_rng(3)
    codes = np.where(rng.random(len(t)) < 0.9, np.where(parity == 0, "01", "02"), np.where(parity == 0, "02", "01"))
    speaker_only = features(t, 0.0)
    result = lexical_probe(speaker_only, codes.astype(object), t["speaker"], n_permutations=0)
    assert result["accuracy"] < 0.75
