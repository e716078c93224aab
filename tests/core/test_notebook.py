"""The notebook views' HTML pieces: escaped cells, figures inlined as PNG, players only where there is sound."""

from __future__ import annotations

import base64

import numpy as np
from matplotlib.figure import Figure

from seraudit.core.notebook import audio_player, cell, figure_img, html_table


def test_cells_round_floats_and_escape_text():
    assert cell(0.123456) == "0.123"
    assert cell(np.float32(0.5)) == "0.500"
    assert cell("<b>") == "&lt;b&gt;"


def test_a_table_escapes_its_caption_headers_and_rows():
    table = html_table(["a<"], [["x&y", 1.0]], caption="c>")
    assert "<caption>c&gt;</caption>" in table and "<th>a&lt;</th>" in table
    assert "<td>x&amp;y</td><td>1.000</td>" in table


def test_a_figure_is_inlined_as_a_png():
    figure = Figure(figsize=(1, 1))
    figure.add_subplot().plot([0, 1])
    data = figure_img(figure, alt="map").split("base64,")[1].split('"')[0]
    assert base64.b64decode(data)[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_player_holds_the_waveform_and_nothing_without_sound(tmp_path):
    assert "<audio" in audio_player(waveform=np.zeros(1600), sample_rate=16000)
    assert audio_player(tmp_path / "missing.wav") == ""
