"""The report groups eGeMAPS features by the parameter groups of the eGeMAPS paper."""

from __future__ import annotations

from collections import Counter

import pytest

from seraudit.preprocessing.egemaps_names import (
    CATEGORIES,
    EGEMAPS_CATEGORIES,
    FUNCTIONAL_NAMES,
    LLD_NAMES,
    NAMES,
    check_level,
    egemaps_category,
)


def test_88_functionals_and_25_descriptors_all_distinct():
    assert len(set(FUNCTIONAL_NAMES)) == len(FUNCTIONAL_NAMES) == 88
    assert len(set(LLD_NAMES)) == len(LLD_NAMES) == 25
    assert NAMES == {"functionals": FUNCTIONAL_NAMES, "lld": LLD_NAMES}


def test_every_functional_has_an_eGeMAPS_category():
    assert set(EGEMAPS_CATEGORIES) == set(FUNCTIONAL_NAMES)
    assert set(EGEMAPS_CATEGORIES.values()) == set(CATEGORIES)
    # Eyben et al. (2016): 10 F0 + 2 jitter + 12 formant frequency/bandwidth functionals; 10 loudness
    # + 2 shimmer + 2 HNR + equivalent sound level; 6 temporal; the rest describe the spectrum.
    assert Counter(EGEMAPS_CATEGORIES.values()) == {
        "frequency/pitch-formant": 24,
        "energy/loudness": 15,
        "temporal": 6,
        "spectral/balance": 43,
    }
    assert EGEMAPS_CATEGORIES["loudnessPeaksPerSec"] == "temporal"
    assert EGEMAPS_CATEGORIES["F2bandwidth_sma3nz_amean"] == "frequency/pitch-formant"
    assert EGEMAPS_CATEGORIES["F2amplitudeLogRelF0_sma3nz_amean"] == "spectral/balance"
    assert EGEMAPS_CATEGORIES["HNRdBACF_sma3nz_amean"] == "energy/loudness"


def test_low_level_descriptors_have_categories_too():
    assert {egemaps_category(n) for n in LLD_NAMES} == set(CATEGORIES) - {"temporal"}
    assert egemaps_category("Loudness_sma3") == "energy/loudness"
    assert egemaps_category("F0semitoneFrom27.5Hz_sma3nz") == "frequency/pitch-formant"


def test_an_unknown_name_or_level_is_refused():
    with pytest.raises(KeyError, match="'zeroCrossingRate' is not an eGeMAPS feature name"):
        egemaps_category("zeroCrossingRate")
    assert check_level("lld") == "lld"
    with pytest.raises(ValueError, match="choose one of functionals, lld"):
        check_level("frames")
