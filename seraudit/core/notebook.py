"""Small HTML pieces results use to show themselves in Jupyter (`_repr_html_`): a table, an image, a player.

Kept in the bottom layer so that a result of any layer (a clip prediction, an
attribution, a probe) draws with the same helpers. Figures are matplotlib's
object-oriented `Figure`, never pyplot: showing a result must not pick or change
the notebook's backend. Images and sounds are inlined (base64), so a saved
notebook still shows them.
"""

from __future__ import annotations

import base64
import html
import io
import os
from typing import Any, Iterable, Sequence

#: Sounds larger than this are not inlined (a notebook holding a long recording becomes unwieldy).
MAX_INLINE_AUDIO_BYTES = 4_000_000


def cell(value: Any) -> str:
    """One table cell: floats to 3 decimals, everything else as text, escaped."""
    if isinstance(value, float):
        return f"{value:.3f}"
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:  # numpy scalar
        return cell(value.item())
    return html.escape(str(value))


def html_table(headers: Sequence[str], rows: Iterable[Sequence[Any]], caption: str | None = None) -> str:
    """A plain HTML table (escaped), with an optional caption above it."""
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    title = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return f"<table>{title}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def figure_img(figure: Any, alt: str = "") -> str:
    """An ``<img>`` holding `figure` (a `matplotlib.figure.Figure`) as an inline PNG."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight")
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"/>'


def audio_player(path: str | os.PathLike | None = None, waveform: Any = None, sample_rate: int | None = None) -> str:
    """An ``<audio controls>`` player of a file or of a waveform; "" when there is no sound (or too much to inline)."""
    if waveform is not None and sample_rate:
        import numpy as np
        import soundfile as sf

        buffer = io.BytesIO()
        sf.write(buffer, np.asarray(waveform, dtype=np.float32), int(sample_rate), format="WAV", subtype="PCM_16")
        data, mime = buffer.getvalue(), "audio/wav"
    elif path and os.path.isfile(path):
        if os.path.getsize(path) > MAX_INLINE_AUDIO_BYTES:
            return ""
        with open(path, "rb") as fh:
            data = fh.read()
        mime = {".mp3": "audio/mpeg", ".flac": "audio/flac", ".ogg": "audio/ogg"}.get(
            os.path.splitext(os.fspath(path))[1].lower(), "audio/wav")
    else:
        return ""
    if len(data) > MAX_INLINE_AUDIO_BYTES:
        return ""
    return f'<audio controls src="data:{mime};base64,{base64.b64encode(data).decode("ascii")}"></audio>'
