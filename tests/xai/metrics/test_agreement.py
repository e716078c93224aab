"""Methods that agree on a clip rank its cells alike and share their top cells; opposite methods do not."""

from __future__ import annotations

import numpy as np
import pytest

from seraudit.xai.metrics.agreement import method_agreement, rank_correlation, top_overlap


@pytest.fixture()
def maps(rng, make_attribution):
    base = rng.normal(size=(120, 64))
    return {
        "gradcam": make_attribution(base, "gradcam", model="yamnet"),
        "gradcam++": make_attribution(3.0 * base + 1.0, "gradcam++", model="yamnet"),  # same ranking, other scale
        "lime": make_attribution(-base, "lime", model="yamnet"),  # the opposite story
        "occlusion": make_attribution(rng.normal(size=(120, 64)), "occlusion", model="yamnet"),  # unrelated
    }


def test_rank_correlation_matrix(maps):
    rho = rank_correlation(maps)
    assert list(rho.index) == list(rho.columns) == ["gradcam", "gradcam++", "lime", "occlusion"]
    assert rho.loc["gradcam", "gradcam++"] == pytest.approx(1.0)
    assert rho.loc["gradcam", "lime"] == pytest.approx(-1.0)
    assert abs(rho.loc["gradcam", "occlusion"]) < 0.1
    assert np.allclose(rho.to_numpy(), rho.to_numpy().T)


def test_top_cells_overlap(maps):
    iou = top_overlap(maps, fraction=0.2)
    assert iou.loc["gradcam", "gradcam++"] == pytest.approx(1.0)
    assert iou.loc["gradcam", "lime"] == 0.0  # top 20 % of one is the bottom 20 % of the other
    # Two independent 20 % selections share about 0.2 * 0.2 of the cells: IoU ~ 0.04 / 0.36.
    assert iou.loc["gradcam", "occlusion"] == pytest.approx(0.04 / 0.36, abs=0.04)


def test_pairs_table_and_list_input(maps):
    agreement = method_agreement(list(maps.values()))
    pairs = agreement.pairs()
    assert len(pairs) == 6
    row = pairs[(pairs.method_a == "gradcam") & (pairs.method_b == "lime")].iloc[0]
    assert row.spearman == pytest.approx(-1.0) and row.top_iou == 0.0


def test_maps_of_different_models_are_not_compared(maps, make_attribution):
    other = make_attribution(maps["gradcam"].clip_map, "lime", model="vggish")
    with pytest.raises(ValueError, match="same model and target"):
        rank_correlation({"gradcam": maps["gradcam"], "lime": other})


def test_the_method_agreement_member_is_the_mean_correlation_with_the_other_methods(make_attribution, rng):
    from types import SimpleNamespace

    from seraudit.xai.metrics.agreement import MethodAgreement
    from seraudit.xai.metrics.base import MetricContext

    base = rng.normal(size=(120, 64))
    maps = {name: make_attribution(base + noise * rng.normal(size=base.shape), name)
            for name, noise in (("a", 0.1), ("b", 0.5), ("c", 3.0))}
    model = SimpleNamespace(name="ensemble")
    rho = rank_correlation(maps)
    result = MethodAgreement()(MetricContext(model, None, maps["a"], maps))
    assert result.value == pytest.approx((rho.loc["a", "b"] + rho.loc["a", "c"]) / 2) and result.higher_is_better
    alone = MethodAgreement()(MetricContext(model, None, maps["a"], {"a": maps["a"]}))
    assert alone.value is None  # one method has nothing to agree with
