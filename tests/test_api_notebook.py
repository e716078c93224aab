"""Results show themselves in Jupyter (`_repr_html_`): an attribution's map and sound, a prediction's and a probe's tables.

Also the helpers they share (`seraudit.core.notebook`).
"""

from __future__ import annotations

import base64
import io
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from seraudit.core.notebook import audio_player, html_table

PNG = re.compile(r'src="data:image/png;base64,([^"]+)"')


def attribution(make_attribution, clip_path=""):
    clip_map = np.linspace(0, 1, 150 * 64, dtype=np.float32).reshape(150, 64)
    return make_attribution(clip_map, method="occlusion", model="yamnet", target_label="sad", clip_path=str(clip_path))


def test_an_attribution_shows_its_map_as_an_inline_png_and_plays_its_clip(make_attribution, ravdess_clips):
    from PIL import Image

    page = attribution(make_attribution, ravdess_clips[0])._repr_html_()
    image = Image.open(io.BytesIO(base64.b64decode(PNG.search(page).group(1))))
    assert image.format == "PNG" and 150 < image.width < 600  # a small figure, not a full-size plot
    assert "occlusion" in page and "sad" in page
    sound = re.search(r'<audio controls src="data:audio/flac;base64,([^"]+)"', page)  # RAVDESS here is FLAC
    assert sound and base64.b64decode(sound.group(1)) == ravdess_clips[0].read_bytes()


def test_an_attribution_without_a_known_file_shows_no_player(make_attribution):
    page = attribution(make_attribution)._repr_html_()
    assert PNG.search(page) and "<audio" not in page


def test_showing_an_attribution_leaves_pyplot_and_the_backend_alone():
    code = (
        "import sys, numpy as np, matplotlib\n"
        "backend = matplotlib.rcParams._get_backend_or_none()\n"
        "from seraudit.xai.attribution import Attribution\n"
        "a = Attribution('gradcam', 'yamnet', 0, 'angry', np.ones((100, 64)), np.zeros((1, 96, 64)), [0.0], [0.96], {}, 0.0)\n"
        "assert 'data:image/png' in a._repr_html_()\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'\n"
        "assert matplotlib.rcParams._get_backend_or_none() == backend, 'backend changed'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]


def test_a_clip_prediction_shows_its_classes_most_likely_first():
    from seraudit.ensemble.model.trained import ClipPrediction

    prediction = ClipPrediction(label="sad", probabilities=np.array([0.1, 0.2, 0.7]), labels=["angry", "happy", "sad"],
                                patch_probabilities=np.zeros((3, 3)), kept=np.array([True, False, True]),
                                used_all_patches=False)
    page = prediction._repr_html_()
    assert re.findall(r"<td>(?:▶ )?(\w+)</td><td>([\d.]+)</td>", page) == [("sad", "0.700"), ("happy", "0.200"),
                                                                            ("angry", "0.100")]
    assert "<td>▶ sad</td>" in page and "2 of 3 patches pooled" in page


def test_a_fitted_probe_shows_its_selection_table_and_jupyter_gets_it_first():
    from seraudit.xai.probing.linear_probe import AcousticProbe

    probe = AcousticProbe()
    assert "<table>" not in probe._repr_html_()  # not fitted: scikit-learn's own view
    probe.selection_ = pd.DataFrame([{"branch": "yamnet", "emotion": "sad", "n_top": 8, "auc_top": 0.8125,
                                      "auc_all": 0.85, "n_dims": 1024, "n_clips": 40, "top_dims": [1, 2]}])
    page = probe._repr_html_()
    assert "<th>branch</th><th>emotion</th><th>n_top</th><th>auc_top</th>" in page
    assert "<td>yamnet</td><td>sad</td><td>8</td><td>0.812</td>" in page and "top_dims" not in page
    assert probe._repr_mimebundle_()["text/html"] == page


def test_an_audit_shows_its_checks(tmp_path):
    from seraudit.api.auditing import Audit

    audit = Audit(tmp_path, {"clips": [{}], "failures": [], "checks": [
        {"name": "faithfulness", "status": "pass", "value": "deletion < random"},
        {"name": "untrained backbone", "status": "warn", "value": "VGGish <untrained>"}]})
    page = audit._repr_html_()
    assert audit.verdict() == {"pass": 1, "warn": 1, "fail": 0}
    assert "1 pass, 1 warn, 0 fail" in page and "VGGish &lt;untrained&gt;" in page


def test_a_table_escapes_its_cells_and_rounds_floats():
    page = html_table(["a<b", "x"], [("<i>", 1 / 3), (np.float32(2.0), np.int64(3))], caption="c&d")
    assert page == ("<table><caption>c&amp;d</caption><thead><tr><th>a&lt;b</th><th>x</th></tr></thead><tbody>"
                    "<tr><td>&lt;i&gt;</td><td>0.333</td></tr><tr><td>2.000</td><td>3</td></tr></tbody></table>")


def test_a_player_holds_a_waveform_as_wav_and_nothing_without_sound(tmp_path):
    import soundfile as sf

    page = audio_player(waveform=np.zeros(1600), sample_rate=16_000)
    data = base64.b64decode(re.search(r"base64,([^\"]+)", page).group(1))
    assert sf.info(io.BytesIO(data)).samplerate == 16_000 and sf.info(io.BytesIO(data)).frames == 1600
    assert audio_player() == "" and audio_player(tmp_path / "missing.wav") == ""


@pytest.mark.parametrize("size, shown", [(100, True), (5_000_000, False)])
def test_a_long_recording_is_not_inlined(tmp_path, size, shown):
    path = tmp_path / "long.wav"
    path.write_bytes(b"\0" * size)
    assert (audio_player(path) != "") is shown
