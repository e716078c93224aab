"""A user points the tool at a corpus folder (or a CSV manifest) and gets one labelled table back."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from seraudit.preprocessing import corpora
from seraudit.preprocessing.corpora import (
    COLUMNS,
    CORPORA,
    CREMA_D_EMOTIONS,
    EMODB_EMOTIONS,
    EMOVO_EMOTIONS,
    SAVEE_EMOTIONS,
    TESS_EMOTIONS,
    read_corpus,
    read_folders,
    read_manifest,
)
from seraudit.core.labels import EMOTIONS
from seraudit.core.errors import CorpusError


def touch(root: Path, *names: str) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()


def assert_well_formed(table: pd.DataFrame, corpus: str) -> None:
    assert tuple(table.columns) == COLUMNS
    assert set(table["label"]) <= set(EMOTIONS)
    assert (table["corpus"] == corpus).all()
    assert table["speaker"].str.startswith(f"{corpus}_").all()
    assert all(os.path.isabs(p) and os.path.isfile(p) for p in table["path"])
    assert list(table["path"]) == sorted(table["path"])


# --- The shared corpora -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def ravdess(ravdess_dir) -> pd.DataFrame:
    return read_corpus("ravdess", ravdess_dir)


def test_ravdess_has_every_clip_with_its_emotion(ravdess):
    assert_well_formed(ravdess, "ravdess")
    assert len(ravdess) == 1434
    assert ravdess["label"].value_counts().to_dict() == {
        "neutral": 96,
        "calm": 189,
        "happy": 191,
        "sad": 192,
        "angry": 192,
        "fearful": 191,
        "disgust": 192,
        "surprised": 191,
    }


def test_ravdess_has_24_actors_with_gender_from_the_actor_number(ravdess):
    counts = ravdess["speaker"].value_counts()
    short = {"ravdess_01", "ravdess_05", "ravdess_20"}  # the six missing clips, two each
    assert counts.to_dict() == {f"ravdess_{a:02d}": 58 if f"ravdess_{a:02d}" in short else 60 for a in range(1, 25)}
    genders = ravdess.groupby("speaker")["gender"].unique()
    assert genders["ravdess_01"].tolist() == ["male"] and genders["ravdess_24"].tolist() == ["female"]
    assert ravdess["gender"].value_counts().to_dict() == {"male": 716, "female": 718}  # actors 01, 05 (male) and 20 (female) lack two clips each


def test_ravdess_keeps_intensity_and_statement(ravdess):
    row = ravdess[ravdess["path"].str.endswith("03-01-05-02-01-02-07.flac")].iloc[0]
    assert (row["label"], row["intensity"], row["text"], row["speaker"]) == ("angry", "strong", "01", "ravdess_07")
    assert (ravdess.loc[ravdess["label"] == "neutral", "intensity"] == "normal").all()


def test_reading_twice_gives_the_same_table(ravdess, ravdess_dir):
    pd.testing.assert_frame_equal(read_corpus("ravdess", ravdess_dir), ravdess)


def test_emodb_has_every_clip_with_its_emotion_and_speaker(emodb_dir):
    table = read_corpus("emodb", emodb_dir)
    assert_well_formed(table, "emodb")
    assert len(table) == 535
    assert table["label"].value_counts().to_dict() == {
        "angry": 127,
        "boredom": 81,
        "disgust": 46,
        "fearful": 69,
        "happy": 71,
        "sad": 62,
        "neutral": 79,
    }
    assert table["speaker"].value_counts().sort_index().to_dict() == {
        "emodb_03": 49, "emodb_08": 58, "emodb_09": 43, "emodb_10": 38, "emodb_11": 55,
        "emodb_12": 35, "emodb_13": 61, "emodb_14": 69, "emodb_15": 56, "emodb_16": 71,
    }  # fmt: skip
    assert table.groupby("speaker")["gender"].first().to_dict() == {
        f"emodb_{s}": g for s, g in corpora.EMODB_GENDER.items()
    }
    first = table.iloc[0]
    assert Path(first["path"]).name == "03a01Fa.flac"
    assert (first["label"], first["text"], first["gender"]) == ("happy", "a01", "male")
    assert table["intensity"].isna().all()


def test_speakers_of_different_corpora_never_collide(ravdess, tmp_path):
    touch(tmp_path, "03a01Fa.wav")  # EmoDB speaker 03 vs RAVDESS actor 03
    both = pd.concat([ravdess, read_corpus("emodb", tmp_path)])
    assert both.groupby("speaker")["corpus"].nunique().max() == 1


# --- Every code of every corpus maps to the canonical label set --------------------------------


@pytest.mark.parametrize("code,label", sorted(EMODB_EMOTIONS.items()))
def test_emodb_codes(tmp_path, code, label):
    touch(tmp_path, f"16b10{code}b.wav")
    row = read_corpus("emodb", tmp_path).iloc[0]
    assert (row["label"], row["speaker"], row["gender"], row["text"]) == (label, "emodb_16", "female", "b10")


@pytest.mark.parametrize("code,label", sorted(CREMA_D_EMOTIONS.items()))
def test_crema_d_codes(tmp_path, code, label):
    touch(tmp_path, f"1001_DFA_{code}_XX.wav", f"1091_IEO_{code}_HI.wav")
    table = read_corpus("crema-d", tmp_path)
    assert_well_formed(table, "crema-d")
    assert table["label"].tolist() == [label, label]
    assert table["speaker"].tolist() == ["crema-d_1001", "crema-d_1091"]
    assert table["intensity"].tolist()[1] == "high" and pd.isna(table["intensity"].tolist()[0])
    assert table["text"].tolist() == ["DFA", "IEO"]
    assert table["gender"].isna().all()  # no VideoDemographics.csv


def test_crema_d_genders_come_from_its_demographics_table(tmp_path):
    touch(tmp_path, "AudioWAV/1001_DFA_ANG_XX.wav", "AudioWAV/1002_DFA_SAD_LO.wav")
    (tmp_path / "VideoDemographics.csv").write_text("ActorID,Age,Sex,Race,Ethnicity\n1001,51,Male,Caucasian,Not Hispanic\n1002,21,Female,Caucasian,Not Hispanic\n")
    table = read_corpus("crema-d", tmp_path)
    assert table["gender"].tolist() == ["male", "female"]
    assert table["intensity"].tolist()[1] == "low"


@pytest.mark.parametrize("code,label", sorted(TESS_EMOTIONS.items()))
def test_tess_codes(tmp_path, code, label):
    touch(tmp_path, f"OAF_{code}/OAF_back_{code}.wav", f"YAF_{code}/YAF_chair_{code}.wav")
    table = read_corpus("tess", tmp_path)
    assert_well_formed(table, "tess")
    assert table["label"].tolist() == [label, label]
    assert table["speaker"].tolist() == ["tess_OAF", "tess_YAF"]
    assert table["text"].tolist() == ["back", "chair"]
    assert (table["gender"] == "female").all()


def test_tess_pleasant_surprise_is_surprised(tmp_path):
    touch(tmp_path, "YAF_pleasant_surprised/YAF_dog_ps.wav")
    assert read_corpus("tess", tmp_path)["label"].tolist() == ["surprised"]


@pytest.mark.parametrize("code,label", sorted(SAVEE_EMOTIONS.items()))
def test_savee_codes_in_both_layouts(tmp_path, code, label):
    touch(tmp_path, f"ALL/DC_{code}01.wav", f"AudioData/KL/{code}15.wav")
    table = read_corpus("savee", tmp_path)
    assert_well_formed(table, "savee")
    assert table["label"].tolist() == [label, label]
    assert sorted(table["speaker"]) == ["savee_DC", "savee_KL"]
    assert (table["gender"] == "male").all()


@pytest.mark.parametrize("code,label", sorted(EMOVO_EMOTIONS.items()))
def test_emovo_codes(tmp_path, code, label):
    touch(tmp_path, f"f1/{code}-f1-b1.wav", f"m3/{code}-m3-n5.wav")
    table = read_corpus("emovo", tmp_path)
    assert_well_formed(table, "emovo")
    assert table["label"].tolist() == [label, label]
    assert table["speaker"].tolist() == ["emovo_f1", "emovo_m3"]
    assert table["gender"].tolist() == ["female", "male"]
    assert table["text"].tolist() == ["b1", "n5"]


def test_wav_and_flac_of_any_case_are_read_and_other_files_ignored(tmp_path):
    touch(tmp_path, "03-01-01-01-01-01-01.wav", "03-01-02-01-01-01-01.WAV", "03-01-03-01-01-01-01.Flac")
    touch(tmp_path, "README.txt", "notes.csv", ".DS_Store", "._03-01-01-01-01-01-01.wav", ".cache/junk.wav")
    table = read_corpus("ravdess", tmp_path)
    assert table["label"].tolist() == ["neutral", "calm", "happy"]


# --- Folder-per-label layout -------------------------------------------------------------------


def test_folders_take_the_label_from_the_folder_and_the_speaker_from_the_name_prefix(tmp_path):
    touch(tmp_path, "angry/spk1_take1.wav", "angry/spk2_take1.flac", "Sad/nested/spk1_x_y.wav")
    table = read_corpus("folders", tmp_path)
    assert_well_formed(table, "folders")
    assert table[["label", "speaker"]].values.tolist() == [  # sorted by path: "Sad" < "angry"
        ["sad", "folders_spk1"],
        ["angry", "folders_spk1"],
        ["angry", "folders_spk2"],
    ]
    assert table[["gender", "intensity", "text"]].isna().all().all()


def test_folders_without_a_speaker_prefix_need_an_explicit_rule(tmp_path):
    touch(tmp_path, "happy/clip1.wav", "happy/spk_clip2.wav")
    with pytest.raises(CorpusError) as error:
        read_folders(tmp_path)
    message = str(error.value)
    assert "happy/clip1.wav" in message and "spk_clip2" not in message
    assert "'<speaker>_'" in message and "manifest" in message
    table = read_folders(tmp_path, speaker_rule="file")
    assert table["speaker"].tolist() == ["folders_happy/clip1", "folders_happy/spk_clip2"]


def test_folders_reject_unknown_label_folders_and_loose_files(tmp_path):
    touch(tmp_path, "joy/spk_1.wav", "loose_1.wav", "angry/spk_2.wav")
    with pytest.raises(CorpusError) as error:
        read_corpus("folders", tmp_path)
    message = str(error.value)
    assert message.startswith("2 file(s)")
    assert "joy/spk_1.wav" in message and "loose_1.wav" in message and "angry" in message
    assert "boredom" in message  # the allowed labels are listed


# --- Manifest ---------------------------------------------------------------------------------


def test_manifest_reads_relative_and_absolute_paths_with_optional_fields(tmp_path):
    touch(tmp_path, "audio/a.wav", "elsewhere/b.flac")
    (tmp_path / "lists").mkdir()
    manifest = tmp_path / "lists" / "train.csv"
    manifest.write_text(
        "path,label,speaker,gender,text\n"
        f"{tmp_path / 'elsewhere' / 'b.flac'},Sad,07,female,\n"
        "../audio/a.wav, angry ,s1,,hello\n"
    )
    table = read_manifest(manifest)
    assert_well_formed(table, "manifest")
    assert table["path"].tolist() == [str(tmp_path / "audio" / "a.wav"), str(tmp_path / "elsewhere" / "b.flac")]
    assert table["label"].tolist() == ["angry", "sad"]
    assert table["speaker"].tolist() == ["manifest_s1", "manifest_07"]  # "07" stays text
    assert table["gender"].tolist()[1] == "female" and pd.isna(table["gender"].tolist()[0])
    assert table["text"].tolist()[0] == "hello" and pd.isna(table["text"].tolist()[1])
    assert table["intensity"].isna().all()


def test_a_reader_table_written_as_a_manifest_reads_back_unchanged(ravdess, tmp_path):
    subset = ravdess.iloc[::100].reset_index(drop=True)
    subset.to_csv(tmp_path / "manifest.csv", index=False)
    pd.testing.assert_frame_equal(read_corpus("manifest", tmp_path), subset)


def test_manifest_keeps_html_as_plain_data(tmp_path):
    name = "<script>alert('x')<script>.wav"
    touch(tmp_path, name)
    manifest = tmp_path / "m.csv"
    pd.DataFrame(
        {"path": [name], "label": ["happy"], "speaker": ["<img src=x onerror=alert(1)>"], "text": ["<b>hi</b>"]}
    ).to_csv(manifest, index=False)
    row = read_manifest(manifest).iloc[0]
    assert row["path"] == str(tmp_path / name)
    assert row["speaker"] == "manifest_<img src=x onerror=alert(1)>"
    assert row["text"] == "<b>hi</b>"


def test_manifest_with_an_unknown_label_names_the_file_the_row_and_the_label(tmp_path):
    touch(tmp_path, "a.wav", "b.wav")
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,label,speaker\na.wav,happy,s1\nb.wav,<script>alert(1)</script>,s2\n")
    with pytest.raises(CorpusError) as error:
        read_manifest(manifest)
    message = str(error.value)
    assert str(manifest) in message and "line 3" in message
    assert "<script>alert(1)</script>" in message and "neutral" in message


def test_manifest_listing_missing_files_names_them(tmp_path):
    touch(tmp_path, "here.wav")
    rows = "".join(f"gone{i}.wav,sad,s{i}\n" for i in range(12))
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,label,speaker\nhere.wav,sad,s\n" + rows)
    with pytest.raises(CorpusError) as error:
        read_manifest(manifest)
    message = str(error.value)
    assert "12 listed file(s) do not exist" in message and "gone0.wav" in message
    assert "(and 2 more)" in message and "gone11.wav" not in message


@pytest.mark.parametrize(
    "content,expected",
    [
        ("path,label\na.wav,sad\n", "missing column(s) speaker"),
        ("path,label,speaker\n", "lists no files"),
        ("", "cannot read the manifest"),
        ("path,label,speaker\na.wav,sad,\n", "empty path, label or speaker"),
        ("path,label,speaker\na.wav,sad,s\na.wav,happy,s\n", "same file twice with different labels"),
        ("path,label,speaker\na.mp3,sad,s\n", "not .wav/.flac"),
    ],
)
def test_bad_manifests_are_explained(tmp_path, content, expected):
    touch(tmp_path, "a.wav", "a.mp3")
    manifest = tmp_path / "m.csv"
    manifest.write_text(content)
    with pytest.raises(CorpusError, match="m.csv") as error:
        read_manifest(manifest)
    assert expected in str(error.value)


def test_a_folder_without_manifest_csv_is_explained(tmp_path):
    with pytest.raises(CorpusError, match="manifest not found: .*manifest.csv"):
        read_corpus("manifest", tmp_path)


# --- Folders that do not follow the naming ------------------------------------------------------


def test_misnamed_files_are_listed_in_one_error_with_the_fix(tmp_path):
    touch(tmp_path, "03-01-01-01-01-01-01.wav", "03-01-09-01-01-01-01.wav")  # emotion 09 does not exist
    touch(tmp_path, *(f"Actor_02/take_{i:02d}.wav" for i in range(11)))
    with pytest.raises(CorpusError) as error:
        read_corpus("ravdess", tmp_path)
    message = str(error.value)
    assert message.startswith(f"12 file(s) under {tmp_path} do not follow the ravdess naming 03-01-EE-II-SS-RR-AA")
    assert "03-01-09-01-01-01-01.wav" in message and "Actor_02/take_00.wav" in message
    assert "and 2 more" in message and "take_10" not in message
    assert "read_corpus('manifest'" in message


@pytest.mark.parametrize("name", [c for c in CORPORA if c != "manifest"])
def test_empty_and_missing_folders_are_explained(tmp_path, name):
    touch(tmp_path, "empty/readme.txt")
    with pytest.raises(CorpusError, match=f"no .wav or .flac files found under {tmp_path / 'empty'}"):
        read_corpus(name, tmp_path / "empty")
    with pytest.raises(CorpusError, match=f"folder not found: {tmp_path / 'absent'}"):
        read_corpus(name, tmp_path / "absent")


def test_unknown_corpus_names_the_supported_ones(tmp_path):
    with pytest.raises(CorpusError, match="unknown corpus 'iemocap': choose one of ravdess, emodb, crema-d"):
        read_corpus("iemocap", tmp_path)
    assert CORPORA == ("ravdess", "emodb", "crema-d", "tess", "savee", "emovo", "folders", "manifest")


# --- display names come from the clips, not from the reader ---------------------------------------


def _tone_folder(root: Path, names: list[str], seconds: list[float], rate: int = 16000) -> Path:
    import numpy as np
    import soundfile as sf

    for name, length in zip(names, seconds):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        t = np.arange(int(round(length * rate))) / rate
        sf.write(path, 0.1 * np.sin(2 * np.pi * 220 * t), rate, subtype="PCM_16")
    return root


RAVDESS_NAMES = [f"Actor_0{a}/03-01-0{e}-01-01-01-0{a}.wav" for a in (1, 2) for e in (1, 3, 5)]
EMODB_NAMES = ["03a01Fa.wav", "03a01Wa.wav", "08a01Fa.wav", "08a01Na.wav"]


@pytest.mark.parametrize("corpus, names, seconds, title", [
    ("ravdess", RAVDESS_NAMES, [2.389] * 6, "RAVDESS (2.4 s)"),  # the cut copy
    ("ravdess", RAVDESS_NAMES, [3.1, 3.5, 4.2, 2.9, 5.3, 3.8], "RAVDESS"),  # full-length clips
    ("emodb", EMODB_NAMES, [2.0] * 4, "EmoDB (2 s)"),
    ("emodb", EMODB_NAMES, [1.6, 2.3, 4.1, 2.0], "EmoDB"),
])
def test_a_corpus_is_titled_from_its_clips_measured_lengths(tmp_path, corpus, names, seconds, title):
    from seraudit.preprocessing.corpora import clip_durations, corpus_title

    table = read_corpus(corpus, _tone_folder(tmp_path, names, seconds))
    durations = clip_durations(table["path"])
    assert sorted(durations) == pytest.approx(sorted(seconds), abs=1e-3)
    assert corpus_title(corpus, durations) == title


def test_one_clip_or_unreadable_headers_give_no_cut_length(tmp_path):
    from seraudit.preprocessing.corpora import clip_durations, corpus_title, cut_length

    (tmp_path / "x.wav").write_text("not audio")
    assert clip_durations([tmp_path / "x.wav"]) == [None]
    assert cut_length([2.389]) is None and corpus_title("ravdess", [2.389]) == "RAVDESS"
    assert corpus_title("ravdess", [2.389, None, 2.389]) == "RAVDESS (2.4 s)"
    assert corpus_title("manifest", [1.0, 1.0]) == "manifest (1 s)" and corpus_title("my-set", [1.0, 2.0]) == "my-set"
