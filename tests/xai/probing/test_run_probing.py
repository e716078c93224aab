"""The report's probing table: each backbone's clip embeddings, pooled like the models pool them, probed for eGeMAPS."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from seraudit.ensemble.data.embedding_cache import CorpusPatches
from seraudit.ensemble.data.corpus_data import CorpusData
from seraudit.ensemble.model.spec import BACKBONES
from seraudit.xai.probing.linear_probe import AcousticProbe
from seraudit.xai.probing.run_probing import clip_tables, report_rows

LOUDNESS = "loudness_sma3_amean"
JITTER = "jitterLocal_sma3nz_amean"


def _corpus(clip_index, keep, embeddings) -> CorpusData:
    n_clips = int(max(clip_index)) + 1
    table = pd.DataFrame({
        "path": [f"/c/{i}.wav" for i in range(n_clips)],
        "label": ["angry", "neutral", "angry"][:n_clips],
        "speaker": ["A", "A", "B"][:n_clips],
    })  # fmt: skip
    n = len(clip_index)
    patches = CorpusPatches(list(table["path"]), np.asarray(clip_index), np.zeros(n), np.ones(n), np.zeros(n))
    return CorpusData(table, ["neutral", "angry"], np.zeros(n_clips, np.int64), table["speaker"].to_numpy(),
                      patches, np.asarray(keep, bool), {b: {BACKBONES[b].embedding_tap: e} for b, e in embeddings.items()})


def test_clip_embeddings_pool_the_kept_patches_with_the_fallback():
    # Clip 0 drops its middle patch, clip 1 keeps none (so all count), clip 2 keeps its one patch.
    clip_index = [0, 0, 0, 1, 1, 2]
    keep = [True, False, True, False, False, True]
    yamnet = np.array([[1.0, 2.0], [1000.0, 1000.0], [3.0, 4.0], [10.0, 0.0], [20.0, 2.0], [7.0, 7.0]])
    tables = clip_tables(_corpus(clip_index, keep, {"yamnet": yamnet, "vggish": yamnet[:, :1] * -1}))
    assert list(tables) == ["yamnet", "vggish"]
    yam = tables["yamnet"]
    assert list(yam.columns) == ["path", "label", "speaker", "e0", "e1"]
    assert yam["path"].tolist() == ["/c/0.wav", "/c/1.wav", "/c/2.wav"] and yam["speaker"].tolist() == ["A", "A", "B"]
    np.testing.assert_array_equal(yam[["e0", "e1"]].to_numpy(), [[2.0, 3.0], [15.0, 1.0], [7.0, 7.0]])
    np.testing.assert_array_equal(tables["vggish"]["e0"].to_numpy(), [-2.0, -15.0, -7.0])


def test_report_rows_are_plain_values_per_backbone_emotion_and_category():
    rng = np.random.default_rng(0)
    n = 48
    speakers = np.repeat(["s0", "s1", "s2", "s3"], n // 4)
    labels = np.tile(["angry", "neutral"], n // 2)
    X = rng.normal(size=(n, 6))
    X[labels == "angry", 0] += 3.0
    paths = [f"/c/{i}.wav" for i in range(n)]
    egemaps = pd.DataFrame({LOUDNESS: X[:, 0] + 0.1 * rng.normal(size=n), JITTER: rng.normal(size=n)}, index=paths)
    probe = AcousticProbe(top_n_grid=(1, 2), n_splits=4).fit(
        {"yamnet": X, "vggish": X[:, ::-1]}, egemaps, paths=paths, labels=labels, speakers=speakers
    )
    rows = report_rows(probe)
    assert len(rows) == 2 * 2 * 2  # backbones x emotions x categories
    assert list(rows[0]) == ["backbone", "emotion", "category", "top dims", "AUC top", "AUC all", "R² top", "R² all"]
    assert all(type(v) in (str, int, float) for row in rows for v in row.values())  # JSON-ready
    angry = {(r["backbone"], r["category"]): r for r in rows if r["emotion"] == "angry"}
    assert angry[("yamnet", "energy/loudness")]["top dims"] == 1
    assert angry[("yamnet", "energy/loudness")]["R² top"] > 0.9 > angry[("yamnet", "frequency/pitch-formant")]["R² top"]
    assert angry[("vggish", "energy/loudness")]["AUC top"] == pytest.approx(angry[("yamnet", "energy/loudness")]["AUC top"])



def test_a_corpus_is_probed_against_random_weights_and_a_random_weight_backbone_is_a_control():
    """YAMNet (pretrained) gets the same tower with seeded random weights as its control, read through the cache;
    VGGish with random weights is reported as a control, against the permuted null only."""
    from types import SimpleNamespace

    from seraudit.preprocessing.egemaps_names import FUNCTIONAL_NAMES
    from seraudit.xai.probing.run_probing import RANDOM, probe_corpus

    rng = np.random.default_rng(1)
    n = 40
    table = pd.DataFrame({"path": [f"/c/{i}.wav" for i in range(n)], "label": np.tile(["angry", "neutral"], n // 2),
                          "speaker": np.repeat(["s0", "s1", "s2", "s3"], n // 4)})
    egemaps = rng.normal(size=(n, len(FUNCTIONAL_NAMES)))
    trained = np.column_stack([egemaps[:, :4], rng.normal(size=(n, 4))])  # carries 4 features
    patches = CorpusPatches(list(table["path"]), np.arange(n), np.zeros(n), np.ones(n), np.zeros(n))
    taps = {"yamnet": {BACKBONES["yamnet"].embedding_tap: trained},
            "vggish": {BACKBONES["vggish"].embedding_tap: rng.normal(size=(n, 8))}}
    data = CorpusData(table, ["neutral", "angry"], np.zeros(n, np.int64), table["speaker"].to_numpy(), patches,
                      np.ones(n, bool), taps, egemaps=egemaps)
    asked = []

    class Cache:
        def taps(self, paths, backbone, source, seed):
            asked.append((backbone, source, seed))
            return {BACKBONES[backbone].embedding_tap: np.random.default_rng(seed).normal(size=(n, 8))}

    sources = {"yamnet": SimpleNamespace(pretrained=True), "vggish": SimpleNamespace(pretrained=False)}
    out = probe_corpus(data, sources, Cache(), seed=5)
    assert asked == [("yamnet", None, 5)]  # one extra pass: YAMNet with seeded random weights; VGGish is one already
    assert out["random_weights"] == ["vggish"]
    yamnet = [r for r in out["controls"] if r["backbone"] == "yamnet"]
    vggish = [r for r in out["controls"] if r["backbone"] == "vggish"]
    assert all(r["weights"] == "pretrained" and r["control_r2"] is not None for r in yamnet)
    assert all(r["weights"] == RANDOM and r["control_r2"] is None and r["null_r2"] is not None for r in vggish)
    assert {r["weights"] for r in out["rows"] if r["backbone"] == "vggish"} == {RANDOM}
    assert out["seconds"]["total"] >= out["seconds"]["control fits"] > 0
