"""Hostile manifests: encodings, delimiters, repeated rows, unknown labels and the --label-map that maps them,
paths that are not audio files. Each is read, or refused naming the file, the line and the fix."""

from __future__ import annotations

import pytest

from cases import _wav, voice

from seraudit.core.errors import EXIT_NOTHING_DONE, CorpusError
from seraudit.preprocessing.corpora import read_corpus, read_label_map

HEADER = "path,label,speaker"


@pytest.fixture()
def clips(tmp_path):
    for name in ("a.wav", "b.wav", "c.wav"):
        _wav(tmp_path / "audio" / name, voice(0.5))
    return tmp_path


def _write(folder, text: str, encoding: str = "utf-8", name: str = "m.csv"):
    path = folder / name
    path.write_bytes(text.encode(encoding))
    return path


@pytest.mark.parametrize("encoding,newline", [("utf-8", "\n"), ("utf-8-sig", "\n"), ("utf-8", "\r\n"), ("utf-8-sig", "\r\n")])
def test_utf8_with_or_without_bom_and_crlf_read_the_same(clips, encoding, newline):
    text = newline.join([HEADER, "audio/a.wav,sad,spk1", "audio/b.wav,Happy,spk2", ""])
    table = read_corpus("manifest", _write(clips, text, encoding))
    assert table["path"].tolist() == [str(clips / "audio" / "a.wav"), str(clips / "audio" / "b.wav")]
    assert table["label"].tolist() == ["sad", "happy"] and table["speaker"].tolist() == ["manifest_spk1", "manifest_spk2"]


def test_latin1_is_refused_naming_the_line_and_the_fix(clips):
    path = _write(clips, f"{HEADER}\naudio/a.wav,sad,spk1\naudio/b.wav,sad,Jürgen\n", "latin-1")
    with pytest.raises(CorpusError) as error:
        read_corpus("manifest", path)
    assert f"{path}: line 3 is not UTF-8 (byte 0xfc)" in str(error.value) and "iconv -f latin1 -t utf-8" in str(error.value)


@pytest.mark.parametrize("delimiter,name", [(";", "semicolons"), ("\t", "tabs")])
def test_other_delimiters_are_refused_with_the_fix(clips, delimiter, name):
    path = _write(clips, f"path{delimiter}label{delimiter}speaker\naudio/a.wav{delimiter}sad{delimiter}s\n")
    with pytest.raises(CorpusError, match=f"line 1 separates its columns with {name}, not commas"):
        read_corpus("manifest", path)


def test_repeated_rows_are_warned_and_dropped_conflicting_ones_refused(clips):
    path = _write(clips, f"{HEADER}\naudio/a.wav,sad,s1\naudio/b.wav,sad,s2\naudio/a.wav,sad,s1\n")
    with pytest.warns(UserWarning, match=r"1 row\(s\) repeat an earlier row exactly and are dropped: line 4"):
        table = read_corpus("manifest", path)
    assert len(table) == 2
    conflict = _write(clips, f"{HEADER}\naudio/a.wav,sad,s1\naudio/a.wav,angry,s1\n", name="conflict.csv")
    with pytest.raises(CorpusError, match="same file twice with different labels"):
        read_corpus("manifest", conflict)


def test_unknown_labels_are_listed_and_a_label_map_maps_them(clips):
    path = _write(clips, f"{HEADER}\naudio/a.wav,ANG,s1\naudio/b.wav,<script>x</script>,s2\naudio/c.wav,sad,s3\n")
    with pytest.raises(CorpusError) as error:
        read_corpus("manifest", path)
    message = str(error.value)
    assert "unknown label(s) '<script>x</script>', 'ANG' in 2 row(s)" in message and "`label_map=FILE`" in message
    mapping = _write(clips, "from,to\nang,angry\n<script>x</script>,neutral\n", name="map.csv")
    table = read_corpus("manifest", path, label_map=mapping)
    assert table["label"].tolist() == ["angry", "neutral", "sad"]
    json_map = _write(clips, '{"ANG": "angry", "<script>x</script>": "happy"}', name="map.json")
    assert read_corpus("manifest", path, label_map=json_map)["label"].tolist() == ["angry", "happy", "sad"]
    bad = _write(clips, "from,to\nang,furious\n", name="bad.csv")
    with pytest.raises(CorpusError, match="'ang' map to something other than an emotion"):
        read_label_map(bad)


def test_train_passes_the_label_map_and_refuses_one_emotion_before_any_work(clips, tmp_path, seraudit):
    path = _write(clips, f"{HEADER}\naudio/a.wav,ANG,s1\naudio/b.wav,WUT,s2\n")
    args = ["train", "--corpus", "manifest", "--data", path, "--models", "yamnet", "--no-download", "--quiet",
            "--cache-dir", tmp_path / "cache", "--out", tmp_path / "run"]
    code, _, err = seraudit(*args)
    assert code == EXIT_NOTHING_DONE and "unknown label(s) 'ANG', 'WUT'" in err
    mapping = _write(clips, "from,to\nang,angry\nwut,angry\n", name="map.csv")
    code, _, err = seraudit(*args, "--label-map", mapping)
    assert code == EXIT_NOTHING_DONE and "only 'angry' of the emotions" in err and "at least two emotions" in err
    assert not (tmp_path / "cache").exists()


def test_listed_paths_that_are_not_audio_files_say_what_they_are(clips):
    import os

    os.mkfifo(clips / "audio" / "pipe.wav")
    (clips / "audio" / "dir.wav").mkdir()
    os.symlink(clips / "audio" / "nowhere.wav", clips / "audio" / "dangling.wav")
    path = _write(clips, f"{HEADER}\naudio/a.wav,sad,s1\naudio/pipe.wav,sad,s2\naudio/dir.wav,sad,s3\naudio/dangling.wav,sad,s4\n")
    with pytest.raises(CorpusError) as error:
        read_corpus("manifest", path)
    message = str(error.value)
    assert "3 listed path(s) are not readable audio files" in message
    assert "line 3: " in message and "named pipe" in message and "line 4: " in message and "a directory" in message
    assert "line 5: " in message and "dangling" in message
