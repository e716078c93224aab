"""`seraudit fetch-corpus` against a local HTTP server: a RAVDESS-layout archive fetched, verified, extracted and read;
tampered, truncated and escaping archives refused with nothing written."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from seraudit.core.download import ChecksumError, IncompleteDownloadError
from seraudit.core.errors import CorpusError
from seraudit.preprocessing.corpora import read_corpus
from seraudit.preprocessing.corpus_download import (
    MARKER_NAME,
    SOURCES,
    UNVERIFIED_FIRST,
    VERIFIED_GIVEN,
    VERIFIED_PUBLISHED,
    VERIFIED_RECORDED,
    ManualCorpusError,
    UnsafeArchiveError,
    extract_safely,
    fetch_corpus,
)

ACTORS = ("01", "06", "11")  # one actor from each of three RAVDESS folds (1-4, 5-8, 9-12)
EMOTIONS = ("01", "03", "04", "05")  # neutral, happy, sad, angry
RATE = 48_000  # the official RAVDESS files are 48 kHz, 16-bit wav


def _clip(emotion: int, actor: int) -> bytes:
    """Two seconds of a voiced-like harmonic tone in noise, pitched per actor and emotion."""
    rng = np.random.default_rng(emotion * 31 + actor)
    t = np.arange(2 * RATE) / RATE
    f0 = 110.0 * (1 + 0.15 * actor) * (1 + 0.1 * emotion)
    wave = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 6)) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t) ** 2)
    wave = 0.2 * wave / np.abs(wave).max() + 0.01 * rng.normal(size=t.size)
    out = io.BytesIO()
    sf.write(out, wave.astype(np.float32), RATE, subtype="PCM_16", format="WAV")
    return out.getvalue()


@pytest.fixture(scope="module")
def ravdess_zip() -> bytes:
    """The official layout: Actor_XX/03-01-EE-01-01-01-XX.wav at the top of the zip."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for actor in ACTORS:
            for emotion in EMOTIONS:
                archive.writestr(f"Actor_{actor}/03-01-{emotion}-01-01-01-{actor}.wav", _clip(int(emotion), int(actor)))
    return out.getvalue()


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("SERAUDIT_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() or p.is_symlink()) if folder.exists() else []


def test_the_official_ravdess_layout_is_fetched_verified_extracted_and_read(range_server, ravdess_zip, tmp_path):
    digest = range_server.serve("archive.zip", ravdess_zip)
    dest = tmp_path / "data" / "ravdess"

    fetched = fetch_corpus("ravdess", dest, url=range_server.url("archive.zip"), sha256=digest, progress=False)

    assert fetched.path == dest and fetched.sha256 == digest and fetched.integrity == VERIFIED_GIVEN
    assert sorted(p.name for p in dest.iterdir()) == [MARKER_NAME, *(f"Actor_{a}" for a in ACTORS)]
    assert [p.name for p in dest.parent.iterdir()] == ["ravdess"]  # the archive and the download folder are gone
    table = read_corpus("ravdess", dest)
    assert len(table) == 12 and set(table["speaker"]) == {f"ravdess_{a}" for a in ACTORS}
    assert set(table["label"]) == {"neutral", "happy", "sad", "angry"}
    assert sf.info(table["path"][0]).samplerate == RATE  # nothing converted: the files are the archive's


def test_the_48_khz_official_wav_loads_at_16_khz_like_the_shared_flac(range_server, ravdess_zip, tmp_path, ravdess_dir):
    from seraudit.preprocessing.audio import load_audio

    digest = range_server.serve("archive.zip", ravdess_zip)
    dest = fetch_corpus("ravdess", tmp_path / "r", url=range_server.url("archive.zip"), sha256=digest, progress=False).path
    official = load_audio(dest / "Actor_01" / "03-01-01-01-01-01-01.wav")
    shared = load_audio(ravdess_dir / "Actor_01" / "03-01-01-01-01-01-01.flac")

    assert (official.original_sample_rate, shared.original_sample_rate) == (RATE, 16_000)
    assert official.sample_rate == shared.sample_rate == 16_000
    assert official.waveform.dtype == shared.waveform.dtype and official.waveform.ndim == 1
    assert official.duration_s == pytest.approx(2.0, abs=1e-3)


def test_a_second_fetch_reuses_the_folder_without_downloading(range_server, ravdess_zip, tmp_path):
    digest = range_server.serve("archive.zip", ravdess_zip)
    url = range_server.url("archive.zip")
    fetch_corpus("ravdess", tmp_path / "r", url=url, sha256=digest, progress=False)
    requests = len(range_server.requests)

    again = fetch_corpus("ravdess", tmp_path / "r", url=url, sha256=digest, progress=False)

    assert again.reused and again.sha256 == digest and len(range_server.requests) == requests


def test_the_default_destination_is_the_corpora_cache(range_server, ravdess_zip, cache):
    digest = range_server.serve("archive.zip", ravdess_zip)
    fetched = fetch_corpus("ravdess", url=range_server.url("archive.zip"), sha256=digest, progress=False)
    assert fetched.path == cache / "corpora" / "ravdess" and len(read_corpus("ravdess", fetched.path)) == 12


def test_a_mirror_without_a_sha256_is_checked_against_the_published_md5(range_server, ravdess_zip, tmp_path):
    range_server.serve("archive.zip", ravdess_zip)  # not the real 208 MB archive: its md5 differs

    with pytest.raises(ChecksumError, match=f"expected md5 {SOURCES['ravdess'].md5}"):
        fetch_corpus("ravdess", tmp_path / "r", url=range_server.url("archive.zip"), progress=False)
    assert _files(tmp_path) == []


def test_the_published_md5_verifies_a_matching_archive(range_server, ravdess_zip, tmp_path, monkeypatch):
    import dataclasses

    from seraudit.preprocessing import corpus_download

    pinned = dataclasses.replace(SOURCES["ravdess"], md5=hashlib.md5(ravdess_zip).hexdigest())
    monkeypatch.setitem(corpus_download.SOURCES, "ravdess", pinned)
    range_server.serve("archive.zip", ravdess_zip)

    fetched = fetch_corpus("ravdess", tmp_path / "r", url=range_server.url("archive.zip"), progress=False)

    assert fetched.integrity == VERIFIED_PUBLISHED


def test_a_tampered_archive_is_refused_and_nothing_is_written(range_server, ravdess_zip, tmp_path):
    digest = hashlib.sha256(ravdess_zip).hexdigest()
    tampered = bytearray(ravdess_zip)
    tampered[len(tampered) // 2] ^= 0xFF
    served = range_server.serve("archive.zip", bytes(tampered))

    with pytest.raises(ChecksumError) as caught:
        fetch_corpus("ravdess", tmp_path / "r", url=range_server.url("archive.zip"), sha256=digest, progress=False)

    assert digest in str(caught.value) and served in str(caught.value)
    assert _files(tmp_path) == []


def test_a_truncated_transfer_keeps_its_part_and_the_next_fetch_resumes(range_server, ravdess_zip, tmp_path):
    digest = range_server.serve("archive.zip", ravdess_zip)
    range_server.cut_once("archive.zip", len(ravdess_zip) // 3)
    url = range_server.url("archive.zip")

    with pytest.raises(IncompleteDownloadError, match="resume"):
        fetch_corpus("ravdess", tmp_path / "r", url=url, sha256=digest, progress=False)
    assert not (tmp_path / "r").exists()

    fetched = fetch_corpus("ravdess", tmp_path / "r", url=url, sha256=digest, progress=False)

    assert range_server.requests[-1][1] == f"bytes={len(ravdess_zip) // 3}-"
    assert fetched.sha256 == digest and len(read_corpus("ravdess", fetched.path)) == 12


def test_a_truncated_archive_is_refused_as_such_and_deleted(range_server, ravdess_zip, tmp_path):
    truncated = ravdess_zip[: len(ravdess_zip) * 2 // 3]  # served complete: the archive itself is cut
    digest = range_server.serve("archive.zip", truncated)

    with pytest.raises(CorpusError, match="truncated or corrupt.*fetch it again"):
        fetch_corpus("ravdess", tmp_path / "r", url=range_server.url("archive.zip"), sha256=digest, progress=False)
    assert _files(tmp_path) == []


def _zip_with(extra_name: str, *, symlink: bool = False) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("Actor_01/03-01-01-01-01-01-01.wav", _clip(1, 1))
        info = zipfile.ZipInfo(extra_name)
        if symlink:
            info.external_attr = (0o120777 << 16)
            archive.writestr(info, "/etc/passwd")
        else:
            archive.writestr(info, b"owned")
    return out.getvalue()


@pytest.mark.parametrize(
    ("member", "symlink", "problem"),
    [
        ("../../escaped.wav", False, "would land outside the destination"),
        ("Actor_01/../../escaped.wav", False, "would land outside the destination"),
        ("/tmp/absolute.wav", False, "has an absolute path"),
        ("Actor_01/link.wav", True, "is a symbolic link"),
    ],
)
def test_an_archive_with_an_unsafe_member_is_refused_before_anything_is_written(
    range_server, tmp_path, member, symlink, problem
):
    digest = range_server.serve("archive.zip", _zip_with(member, symlink=symlink))
    work = tmp_path / "work"

    with pytest.raises(UnsafeArchiveError) as caught:
        fetch_corpus("ravdess", work / "r", url=range_server.url("archive.zip"), sha256=digest, progress=False)

    assert repr(member) in str(caught.value) and problem in str(caught.value) and "nothing was extracted" in str(caught.value)
    assert _files(tmp_path) == []
    assert not Path("/tmp/absolute.wav").exists()


def test_a_tar_with_a_link_is_refused_too(tmp_path):
    archive = tmp_path / "a.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        link = tarfile.TarInfo("Actor_01/link.wav")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    dest = tmp_path / "dest"
    dest.mkdir()

    with pytest.raises(UnsafeArchiveError, match="is a link"):
        extract_safely(archive, dest)
    assert list(dest.iterdir()) == []


def test_an_archive_without_the_corpus_layout_is_not_kept(range_server, tmp_path):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("clips/hello.wav", _clip(1, 1))
    digest = range_server.serve("archive.zip", out.getvalue())

    with pytest.raises(CorpusError, match="does not hold the ravdess layout.*hello.wav"):
        fetch_corpus("ravdess", tmp_path / "r", url=range_server.url("archive.zip"), sha256=digest, progress=False)
    assert _files(tmp_path) == []


def test_without_a_published_checksum_the_first_sha256_is_recorded_then_enforced(range_server, tmp_path):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("wav/03a01Fa.wav", _clip(1, 1))
        archive.writestr("wav/08b02Wc.wav", _clip(2, 2))
        archive.writestr("erkennung.txt", b"not audio: skipped by the reader")
    first = range_server.serve("download.zip", out.getvalue())
    url = range_server.url("download.zip")

    fetched = fetch_corpus("emodb", tmp_path / "e1", url=url, progress=False)
    assert fetched.integrity == UNVERIFIED_FIRST and fetched.sha256 == first
    assert len(read_corpus("emodb", fetched.path)) == 2

    assert fetch_corpus("emodb", tmp_path / "e2", url=url, progress=False).integrity == VERIFIED_RECORDED
    range_server.serve("download.zip", out.getvalue() + b"changed")
    with pytest.raises(ChecksumError, match=first):
        fetch_corpus("emodb", tmp_path / "e3", url=url, progress=False)


@pytest.mark.parametrize("name", ["crema-d", "savee", "iemocap", "msp-podcast", "tess"])
def test_licensed_corpora_say_where_to_get_them_and_how_to_pass_data(name, tmp_path):
    with pytest.raises(ManualCorpusError) as caught:
        fetch_corpus(name, tmp_path / name)
    message = str(caught.value)
    assert SOURCES[name].page in message and "--data" in message
    assert not (tmp_path / name).exists()


def _cli(*argv: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "seraudit.cli", *argv], capture_output=True, text=True, env=env,
                          timeout=120)


def test_the_command_prints_the_folder_and_refuses_a_tampered_archive(range_server, ravdess_zip, tmp_path, cache):
    env = {**os.environ, "SERAUDIT_CACHE_DIR": str(cache)}
    digest = range_server.serve("archive.zip", ravdess_zip)
    dest = tmp_path / "fetched"

    done = _cli("fetch-corpus", "ravdess", "--url", range_server.url("archive.zip"), "--sha256", digest,
                "--dest", str(dest), "--quiet", env=env)

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == str(dest)
    assert f"sha256 {digest}" in done.stderr and "--corpus ravdess --data" in done.stderr

    range_server.serve("tampered.zip", ravdess_zip[:-10] + b"0123456789")
    refused = _cli("fetch-corpus", "ravdess", "--url", range_server.url("tampered.zip"), "--sha256", digest,
                   "--dest", str(tmp_path / "other"), "--quiet", env=env)

    assert refused.returncode == 2 and "error:" in refused.stderr and "expected sha256" in refused.stderr
    assert "Traceback" not in refused.stderr and not (tmp_path / "other").exists()

    manual = _cli("fetch-corpus", "savee", env=env)
    assert manual.returncode == 1 and "--data" in manual.stderr and manual.stdout == ""


@pytest.mark.slow
def test_train_reads_the_fetched_folder(range_server, ravdess_zip, tmp_path, models_dir):
    """The folder fetch-corpus prints is what `seraudit train --corpus ravdess --data DIR` reads."""
    from seraudit.cli import main
    from seraudit.ensemble.run import Run

    digest = range_server.serve("archive.zip", ravdess_zip)
    data = fetch_corpus("ravdess", tmp_path / "ravdess", url=range_server.url("archive.zip"), sha256=digest,
                        progress=False).path
    run_dir = tmp_path / "run"

    status = main(["train", "--corpus", "ravdess", "--data", str(data), "--models", "yamnet",
                   "--models-dir", str(models_dir), "--no-download", "--bootstrap", "20", "--quiet",
                   "--cache-dir", str(tmp_path / "embeddings"), "--out", str(run_dir)])

    assert status == 0
    run = Run.open(run_dir)
    assert len(run.predictions) == 12
    assert set(run.predictions["speaker"]) == {f"ravdess_{a}" for a in ACTORS}
