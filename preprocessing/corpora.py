"""Corpus readers: turn an emotional-speech corpus folder (or a CSV manifest) into one labelled table.

Every reader returns a `pandas.DataFrame` with the columns in `COLUMNS`, one row per clip,
sorted by path:

- ``path``: absolute path of the audio file (``.wav`` or ``.flac``, any case);
- ``label``: the canonical emotion (`seraudit.core.labels.EMOTIONS`);
- ``speaker``: the speaker, prefixed with the corpus (``"ravdess_01"``) so that speakers of
  different corpora never collide in a speaker-independent split;
- ``corpus``: the corpus name;
- ``gender`` (``"female"``/``"male"``), ``intensity`` (the corpus's own intensity vocabulary)
  and ``text`` (the corpus's sentence or word identifier, not a transcript); missing
  (None/NaN) where the corpus does not provide them.

Each corpus's emotion codes are mapped to the canonical labels once, in the ``*_EMOTIONS``
dictionaries below. Hidden files (``.name``) and files other than ``.wav``/``.flac`` are
ignored; every other file must follow the corpus's naming, otherwise one `CorpusError`
lists the offending files and how to fix them.

Example
-------
>>> table = read_corpus("ravdess", "../shared/data/ravdess")  # doctest: +SKIP
>>> table.groupby("label").size()  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import re
import warnings
from pathlib import Path
from typing import Callable

import pandas as pd

from seraudit.core.labels import EMOTIONS
from seraudit.core.errors import AudioError, CorpusError

CORPORA = ("ravdess", "emodb", "crema-d", "tess", "savee", "emovo", "folders", "manifest")
COLUMNS = ("path", "label", "speaker", "corpus", "gender", "intensity", "text")
AUDIO_SUFFIXES = (".wav", ".flac")
MANIFEST_COLUMNS = ("path", "label", "speaker")
MANIFEST_OPTIONAL_COLUMNS = ("corpus", "gender", "intensity", "text")
MANIFEST_FILENAME = "manifest.csv"
MAX_LISTED = 10  # files named in one error message; the rest are counted

# --- Corpus codes → canonical labels (the only place each mapping is written) -----------------

RAVDESS_EMOTIONS = {
    "01": "neutral",
    "02": "calm",
    "03": "happy",
    "04": "sad",
    "05": "angry",
    "06": "fearful",
    "07": "disgust",
    "08": "surprised",
}
RAVDESS_INTENSITY = {"01": "normal", "02": "strong"}

EMODB_EMOTIONS = {
    "W": "angry",  # Wut
    "L": "boredom",  # Langeweile
    "E": "disgust",  # Ekel
    "A": "fearful",  # Angst
    "F": "happy",  # Freude
    "T": "sad",  # Trauer
    "N": "neutral",
}
# Speaker genders from the EmoDB documentation (Burkhardt et al., 2005).
EMODB_GENDER = {
    "03": "male",
    "08": "female",
    "09": "female",
    "10": "male",
    "11": "male",
    "12": "male",
    "13": "female",
    "14": "female",
    "15": "male",
    "16": "female",
}

CREMA_D_EMOTIONS = {
    "ANG": "angry",
    "DIS": "disgust",
    "FEA": "fearful",
    "HAP": "happy",
    "NEU": "neutral",
    "SAD": "sad",
}
# "XX" means the intensity was not specified.
CREMA_D_INTENSITY = {"LO": "low", "MD": "medium", "HI": "high", "XX": None}
CREMA_D_DEMOGRAPHICS = "VideoDemographics.csv"  # ships with CREMA-D: ActorID, Age, Sex, Race, Ethnicity

TESS_EMOTIONS = {
    "angry": "angry",
    "disgust": "disgust",
    "fear": "fearful",
    "happy": "happy",
    "neutral": "neutral",
    "ps": "surprised",  # "pleasant surprise"
    "sad": "sad",
}
TESS_GENDER = {"OAF": "female", "YAF": "female"}  # older / younger adult female

SAVEE_EMOTIONS = {
    "a": "angry",
    "d": "disgust",
    "f": "fearful",
    "h": "happy",
    "n": "neutral",
    "sa": "sad",
    "su": "surprised",
}
SAVEE_SPEAKERS = ("DC", "JE", "JK", "KL")  # four male speakers

EMOVO_EMOTIONS = {
    "dis": "disgust",  # disgusto
    "gio": "happy",  # gioia
    "neu": "neutral",
    "pau": "fearful",  # paura
    "rab": "angry",  # rabbia
    "sor": "surprised",  # sorpresa
    "tri": "sad",  # tristezza
}
EMOVO_GENDER = {"f": "female", "m": "male"}

# --- File-name patterns (matched against the file stem) ---------------------------------------

_RAVDESS_NAME = re.compile(
    r"03-01-(?P<emotion>\d\d)-(?P<intensity>\d\d)-(?P<statement>\d\d)-(?P<repetition>\d\d)-(?P<actor>\d\d)"
)
_EMODB_NAME = re.compile(r"(?P<speaker>\d\d)(?P<text>[ab]\d\d)(?P<emotion>[A-Z])(?P<version>[a-z])")
_CREMA_D_NAME = re.compile(r"(?P<actor>\d{4})_(?P<sentence>[A-Z]{3})_(?P<emotion>[A-Z]{3})_(?P<level>[A-Z]{2})")
_TESS_NAME = re.compile(r"(?P<speaker>OAF|YAF)_(?P<word>[A-Za-z]+)_(?P<emotion>[A-Za-z]+)", re.IGNORECASE)
_SAVEE_NAME = re.compile(r"(?:(?P<speaker>[A-Z]{2})_)?(?P<emotion>[a-z]{1,2})(?P<sentence>\d\d)")
_EMOVO_NAME = re.compile(r"(?P<emotion>[a-z]{3})-(?P<speaker>[fm]\d)-(?P<sentence>[a-z]+\d+)", re.IGNORECASE)

_Row = dict[str, str | None]


# --- Public API -------------------------------------------------------------------------------


def read_corpus(name: str, root: str | os.PathLike, **options) -> pd.DataFrame:
    """Read corpus `name` (one of `CORPORA`) at `root`; `options` go to that corpus's reader."""
    key = name.strip().lower().replace("_", "-")
    readers: dict[str, Callable[..., pd.DataFrame]] = {
        "ravdess": read_ravdess,
        "emodb": read_emodb,
        "crema-d": read_crema_d,
        "tess": read_tess,
        "savee": read_savee,
        "emovo": read_emovo,
        "folders": read_folders,
        "manifest": read_manifest,
    }
    if key not in readers:
        raise CorpusError(f"unknown corpus {name!r}: choose one of {', '.join(CORPORA)}")
    return readers[key](root, **options)


# --- Display names: from the corpus and its clips, not from the reader -------------------------

#: How each corpus is named on screen; a corpus outside the list shows under its own name.
CORPUS_TITLES = {"ravdess": "RAVDESS", "emodb": "EmoDB", "crema-d": "CREMA-D", "tess": "TESS", "savee": "SAVEE",
                 "emovo": "EMOVO"}
CUT_TOLERANCE_S = 0.01  # clips whose lengths all lie within this of each other were cut to one length


def clip_durations(paths) -> list[float]:
    """Each clip's length in seconds, from its header (no decoding); None for a file whose header cannot be read."""
    import soundfile as sf

    out = []
    for path in paths:
        try:
            out.append(float(sf.info(str(path)).duration))
        except Exception:  # an unreadable clip is left out elsewhere; it has no length to show
            out.append(None)
    return out


def cut_length(durations) -> float | None:
    """The one length every clip was cut (or padded) to, or None when the lengths differ (full-length clips).

    Needs two clips at least: one clip says nothing about how a corpus was prepared.
    """
    known = [d for d in durations if d is not None]
    if len(known) < 2 or max(known) - min(known) > CUT_TOLERANCE_S:
        return None
    return (max(known) + min(known)) / 2


def corpus_title(corpus: str, durations) -> str:
    """A corpus's display name from its clips' measured lengths: ``"RAVDESS"`` for full-length clips, ``"RAVDESS (2.4 s)"``
    when every clip has one cut length (``"EmoDB (2 s)"``: whole seconds without a decimal)."""
    key = str(corpus).strip().lower().replace("_", "-")
    name = CORPUS_TITLES.get(key, str(corpus))
    cut = cut_length(durations)
    if cut is None:
        return name
    shown = f"{cut:.1f}".removesuffix(".0")
    return f"{name} ({shown} s)"


def read_ravdess(root: str | os.PathLike) -> pd.DataFrame:
    """RAVDESS speech, ``03-01-EE-II-SS-RR-AA``: emotion, intensity, statement, repetition, actor (odd = male)."""

    def row(match: re.Match, path: Path) -> _Row:
        actor = match["actor"]
        return {
            "label": RAVDESS_EMOTIONS[match["emotion"]],
            "speaker": actor,
            "gender": "male" if int(actor) % 2 else "female",
            "intensity": RAVDESS_INTENSITY[match["intensity"]],
            "text": match["statement"],
        }

    return _read_named(root, "ravdess", _RAVDESS_NAME, "03-01-EE-II-SS-RR-AA (audio-only speech)", row)


def read_emodb(root: str | os.PathLike) -> pd.DataFrame:
    """EmoDB, ``SSTTTEV`` (e.g. ``03a01Fa``): speaker, text, emotion letter (German initial), version."""

    def row(match: re.Match, path: Path) -> _Row:
        speaker = match["speaker"]
        return {
            "label": EMODB_EMOTIONS[match["emotion"]],
            "speaker": speaker,
            "gender": EMODB_GENDER[speaker],
            "intensity": None,
            "text": match["text"],
        }

    return _read_named(root, "emodb", _EMODB_NAME, "SSTTTEV, e.g. 03a01Fa (speaker, text, emotion W/L/E/A/F/T/N, version)", row)


def read_crema_d(root: str | os.PathLike, *, demographics: str | os.PathLike | None = None) -> pd.DataFrame:
    """CREMA-D, ``1001_DFA_ANG_XX``: actor, sentence, emotion, intensity level.

    Genders come from CREMA-D's ``VideoDemographics.csv`` (`demographics`, or that file in
    `root` when present); without it the ``gender`` column is left empty.
    """
    root_path = _existing_dir(root, "crema-d")
    table = Path(demographics) if demographics is not None else root_path / CREMA_D_DEMOGRAPHICS
    genders: dict[str, str] = {}
    if demographics is not None or table.is_file():
        frame = _read_csv(table, "CREMA-D demographics")
        missing = [c for c in ("ActorID", "Sex") if c not in frame.columns]
        if missing:
            raise CorpusError(
                f"{table}: missing column(s) {', '.join(missing)}; expected CREMA-D's "
                f"{CREMA_D_DEMOGRAPHICS} with columns ActorID, Age, Sex, Race, Ethnicity"
            )
        genders = {a.strip(): s.strip().lower() for a, s in zip(frame["ActorID"], frame["Sex"])}

    def row(match: re.Match, path: Path) -> _Row:
        actor = match["actor"]
        return {
            "label": CREMA_D_EMOTIONS[match["emotion"]],
            "speaker": actor,
            "gender": genders.get(actor),
            "intensity": CREMA_D_INTENSITY[match["level"]],
            "text": match["sentence"],
        }

    return _read_named(root_path, "crema-d", _CREMA_D_NAME, "AAAA_SSS_EMO_LV, e.g. 1001_DFA_ANG_XX", row)


def read_tess(root: str | os.PathLike) -> pd.DataFrame:
    """TESS, ``OAF_back_angry``: speaker (OAF/YAF), word, emotion ('ps' = pleasant surprise).

    The label is taken from the file name; the per-speaker/emotion folders are not used.
    """

    def row(match: re.Match, path: Path) -> _Row:
        speaker = match["speaker"].upper()
        return {
            "label": TESS_EMOTIONS[match["emotion"].lower()],
            "speaker": speaker,
            "gender": TESS_GENDER[speaker],
            "intensity": None,
            "text": match["word"].lower(),
        }

    return _read_named(root, "tess", _TESS_NAME, "SPK_word_emotion, e.g. OAF_back_angry (emotion angry/disgust/fear/happy/neutral/ps/sad)", row)


def read_savee(root: str | os.PathLike) -> pd.DataFrame:
    """SAVEE, ``DC_a01`` (or the original ``DC/a01`` layout): speaker, emotion code, sentence number."""

    def row(match: re.Match, path: Path) -> _Row:
        speaker = match["speaker"] or path.parent.name
        if speaker not in SAVEE_SPEAKERS:
            raise KeyError(speaker)
        return {
            "label": SAVEE_EMOTIONS[match["emotion"]],
            "speaker": speaker,
            "gender": "male",
            "intensity": None,
            "text": match["emotion"] + match["sentence"],
        }

    return _read_named(root, "savee", _SAVEE_NAME, "SPK_eNN, e.g. DC_a01 (speaker DC/JE/JK/KL; emotion a/d/f/h/n/sa/su)", row)


def read_emovo(root: str | os.PathLike) -> pd.DataFrame:
    """EMOVO, ``dis-f1-b1``: emotion (Italian abbreviation), speaker f1..m3, sentence."""

    def row(match: re.Match, path: Path) -> _Row:
        speaker = match["speaker"].lower()
        return {
            "label": EMOVO_EMOTIONS[match["emotion"].lower()],
            "speaker": speaker,
            "gender": EMOVO_GENDER[speaker[0]],
            "intensity": None,
            "text": match["sentence"].lower(),
        }

    return _read_named(root, "emovo", _EMOVO_NAME, "emo-spk-sentence, e.g. dis-f1-b1 (emotion dis/gio/neu/pau/rab/sor/tri)", row)


def read_folders(root: str | os.PathLike, *, speaker_rule: str = "prefix") -> pd.DataFrame:
    """A folder per label, ``root/<label>/**/*.wav``, where each folder name is a canonical emotion.

    Such a layout does not say who speaks, so `speaker_rule` must decide it explicitly:

    - ``"prefix"`` (default): the speaker is the file stem up to its first ``_``
      (``angry/spk07_take2.wav`` → ``folders_spk07``); a file without ``_`` is an error.
    - ``"file"``: every file is its own speaker. Splits made on it are *not* speaker-independent.

    For any other rule write a CSV manifest (`read_manifest`).
    """
    if speaker_rule not in ("prefix", "file"):
        raise CorpusError(f"unknown speaker_rule {speaker_rule!r}: use 'prefix' or 'file', or write a CSV manifest")
    root_path = _existing_dir(root, "folders")
    files = _audio_files(root_path)
    if not files:
        raise CorpusError(_empty_message(root_path, "folders"))
    rows, bad = [], []
    for path in files:
        relative = path.relative_to(root_path)
        label = relative.parts[0].strip().lower() if len(relative.parts) > 1 else None
        if speaker_rule == "file":
            speaker = relative.with_suffix("").as_posix()
        else:
            speaker = path.stem.split("_", 1)[0] if "_" in path.stem else None
        if label not in EMOTIONS or not speaker:
            bad.append(path)
            continue
        rows.append({"path": path, "label": label, "speaker": speaker, "gender": None, "intensity": None, "text": None})
    if bad:
        rule = "its file name starts with '<speaker>_'" if speaker_rule == "prefix" else "it sits in a label folder"
        raise CorpusError(
            _list_files(bad, root_path, "do not follow the folder-per-label layout")
            + f". Each file must be at {root_path}/<label>/…/<file> where <label> is one of "
            f"{', '.join(EMOTIONS)} and {rule}. Move or rename them, or list the corpus in a CSV "
            f"manifest (columns {','.join(MANIFEST_COLUMNS)}) and read it with read_corpus('manifest', ...)"
        )
    return _table(rows, "folders")


def read_label_map(path: str | os.PathLike) -> dict[str, str]:
    """A label map file: CSV with columns ``from,to`` or a JSON object ``{"from": "to"}``; keys compared in lower case.

    Every target must be a canonical emotion; the error names the file and the bad entries.
    """
    file = Path(path)
    if not file.is_file():
        raise CorpusError(f"label map not found: {file}; pass a CSV file with columns from,to (or a JSON object)")
    if file.suffix.lower() == ".json":
        try:
            data = json.loads(file.read_text(encoding="utf-8-sig"))
        except (OSError, ValueError) as error:
            raise CorpusError(f"{file}: not a readable JSON object ({error}); write {{\"their label\": \"emotion\"}}") from None
        if not isinstance(data, dict):
            raise CorpusError(f"{file}: the label map must be a JSON object {{\"their label\": \"emotion\"}}")
        pairs = {str(k).strip().lower(): str(v).strip().lower() for k, v in data.items()}
    else:
        frame = _read_csv(file, "label map")
        frame.columns = [str(c).strip().lower() for c in frame.columns]
        if not {"from", "to"} <= set(frame.columns):
            raise CorpusError(f"{file}: a label map needs the header from,to (one row per label to map)")
        pairs = {f.strip().lower(): t.strip().lower() for f, t in zip(frame["from"], frame["to"])}
    bad = sorted(k for k, v in pairs.items() if v not in EMOTIONS)
    if bad:
        raise CorpusError(f"{file}: label(s) {', '.join(map(repr, bad[:MAX_LISTED]))} map to something other than an "
                          f"emotion; targets must be one of {', '.join(EMOTIONS)}")
    return pairs


def read_manifest(manifest: str | os.PathLike, *, label_map: str | os.PathLike | dict | None = None) -> pd.DataFrame:
    """A CSV manifest with columns ``path,label,speaker`` (optional ``corpus,gender,intensity,text``).

    `manifest` is the CSV file, or a folder holding ``manifest.csv``; it is UTF-8, with or
    without a byte-order mark, with LF or CRLF line ends, comma-separated. Another encoding or
    delimiter is refused naming the line and the fix (nothing is guessed). Relative paths are
    taken from the manifest's folder. Labels must be canonical emotions (any case), or be
    mapped to them by `label_map` (a file for `read_label_map`, or a dict); unknown ones are
    listed in one error. A row repeated exactly is dropped with a warning; one file listed
    with two different labels or speakers is an error. Speakers are prefixed with the row's
    corpus (``manifest`` when there is no corpus column) unless they already carry that
    prefix, so a table written by a reader reads back unchanged. Every value is kept as
    text: nothing in a cell is interpreted.
    """
    path = Path(manifest)
    if path.is_dir():
        path = path / MANIFEST_FILENAME
    if not path.is_file():
        raise CorpusError(f"manifest not found: {path}; pass a CSV file with columns {','.join(MANIFEST_COLUMNS)}")
    frame = _read_csv(path, "manifest")
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    if len(frame.columns) == 1:
        header = frame.columns[0]
        for delimiter, name in ((";", "semicolons"), ("\t", "tabs"), ("|", "bars")):
            if delimiter in header:
                raise CorpusError(f"{path}: line 1 separates its columns with {name}, not commas; save the manifest as "
                                  "comma-separated CSV (in a spreadsheet: CSV UTF-8, comma-delimited)")
    missing = [c for c in MANIFEST_COLUMNS if c not in frame.columns]
    if missing:
        raise CorpusError(
            f"{path}: missing column(s) {', '.join(missing)}; a manifest needs the header "
            f"{','.join(MANIFEST_COLUMNS)} (optional: {','.join(MANIFEST_OPTIONAL_COLUMNS)})"
        )
    if frame.empty:
        raise CorpusError(f"{path}: the manifest lists no files; add one row per clip ({','.join(MANIFEST_COLUMNS)})")
    frame = frame.apply(lambda column: column.str.strip())

    def rows_where(mask: pd.Series) -> str:
        lines = [f"line {i + 2}: {frame.at[i, 'path']!r}" for i in frame.index[mask][:MAX_LISTED]]
        more = f" (and {int(mask.sum()) - MAX_LISTED} more)" if mask.sum() > MAX_LISTED else ""
        return "; ".join(lines) + more

    empty = (frame[list(MANIFEST_COLUMNS)] == "").any(axis=1)
    if empty.any():
        raise CorpusError(f"{path}: {int(empty.sum())} row(s) with an empty path, label or speaker: {rows_where(empty)}")
    labels = frame["label"].str.lower()
    if label_map is not None:
        mapping = label_map if isinstance(label_map, dict) else read_label_map(label_map)
        labels = labels.map(lambda value: mapping.get(value, value))
    unknown = ~labels.isin(EMOTIONS)
    if unknown.any():
        values = sorted(set(frame.loc[unknown, "label"]))
        raise CorpusError(
            f"{path}: unknown label(s) {', '.join(repr(v) for v in values[:MAX_LISTED])} in "
            f"{int(unknown.sum())} row(s) ({rows_where(unknown)}); labels must be one of {', '.join(EMOTIONS)}, "
            "or map them with `label_map=FILE` (CSV with columns from,to)"
        )
    base = path.parent
    paths = pd.Series([os.path.abspath(base / p) for p in frame["path"]], index=frame.index)
    identity = pd.DataFrame({"path": paths, "label": labels, "speaker": frame["speaker"]})
    repeated = identity.duplicated(keep="first")
    if repeated.any():
        warnings.warn(f"{path}: {int(repeated.sum())} row(s) repeat an earlier row exactly and are dropped: "
                      f"{rows_where(repeated)}", stacklevel=2)
        keep = ~repeated
        frame, labels, paths = frame[keep], labels[keep], paths[keep]
    duplicated = paths.duplicated(keep=False)
    if duplicated.any():
        raise CorpusError(f"{path}: {int(duplicated.sum())} rows list the same file twice with different labels or "
                          f"speakers: {rows_where(duplicated)}; keep one row per clip")
    not_audio = ~paths.str.lower().str.endswith(AUDIO_SUFFIXES)
    if not_audio.any():
        raise CorpusError(f"{path}: {int(not_audio.sum())} row(s) are not .wav/.flac files: {rows_where(not_audio)}")
    absent = ~paths.map(os.path.isfile)
    if absent.any():
        kinds = paths[absent].map(_path_problem)
        if (kinds != "missing").any():  # a pipe, folder or bad link among them: say what each one is
            listed = "; ".join(f"line {i + 2}: {kinds[i]}" for i in kinds.index[:MAX_LISTED])
            raise CorpusError(f"{path}: {int(absent.sum())} listed path(s) are not readable audio files: {listed}; "
                              "fix the paths or remove those rows")
        raise CorpusError(
            f"{path}: {int(absent.sum())} listed file(s) do not exist: {rows_where(absent)}; relative paths are "
            f"read from the manifest's folder {base.resolve()}; fix the paths or remove those rows"
        )
    corpus = frame["corpus"].where(frame["corpus"] != "", "manifest") if "corpus" in frame else pd.Series("manifest", index=frame.index)
    speaker = [s if s.startswith(f"{c}_") else f"{c}_{s}" for s, c in zip(frame["speaker"], corpus)]
    out = pd.DataFrame({"path": paths, "label": labels, "speaker": speaker, "corpus": corpus})
    for column in MANIFEST_OPTIONAL_COLUMNS[1:]:
        out[column] = frame[column].where(frame[column] != "", None) if column in frame else None
    return _sorted(out)


# --- Shared machinery -------------------------------------------------------------------------


def _read_named(
    root: str | os.PathLike,
    corpus: str,
    pattern: re.Pattern,
    expected: str,
    row: Callable[..., _Row],
) -> pd.DataFrame:
    """Parse every audio file name under `root` with `pattern`; collect all misnamed files into one error."""
    root_path = _existing_dir(root, corpus)
    files = _audio_files(root_path)
    if not files:
        raise CorpusError(_empty_message(root_path, corpus))
    rows, bad = [], []
    for path in files:
        match = pattern.fullmatch(path.stem)
        try:
            if match is None:
                raise KeyError(path.stem)
            fields = row(match, path)
        except KeyError:  # no match, or a code that is not in the corpus's mapping
            bad.append(path)
            continue
        rows.append({"path": path, **fields})
    if bad:
        raise CorpusError(
            _list_files(bad, root_path, f"do not follow the {corpus} naming {expected}")
            + f". Rename or remove them, or list the corpus in a CSV manifest (columns "
            f"{','.join(MANIFEST_COLUMNS)}) and read it with read_corpus('manifest', ...)"
        )
    return _table(rows, corpus)


def _table(rows: list[dict], corpus: str) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=[c for c in COLUMNS if c != "corpus"])
    frame["path"] = [os.path.abspath(p) for p in frame["path"]]
    frame["speaker"] = f"{corpus}_" + frame["speaker"].astype(str)
    frame["corpus"] = corpus
    return _sorted(frame)


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[list(COLUMNS)].sort_values("path", kind="stable").reset_index(drop=True)


def _existing_dir(root: str | os.PathLike, corpus: str) -> Path:
    path = Path(root)
    if not path.is_dir():
        raise CorpusError(f"{corpus} corpus folder not found: {path}; pass the folder that holds the audio files")
    return path


def _audio_files(root: Path) -> list[Path]:
    """Every .wav/.flac file below `root` (any case), skipping hidden files and folders."""
    found = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(
            Path(folder) / n for n in names if not n.startswith(".") and n.lower().endswith(AUDIO_SUFFIXES)
        )
    return sorted(found)


def _empty_message(root: Path, corpus: str) -> str:
    return f"no .wav or .flac files found under {root} ({corpus}); check the folder, or list the files in a CSV manifest"


def _list_files(bad: list[Path], root: Path, problem: str) -> str:
    shown = ", ".join(str(p.relative_to(root)) for p in bad[:MAX_LISTED])
    more = f" and {len(bad) - MAX_LISTED} more" if len(bad) > MAX_LISTED else ""
    return f"{len(bad)} file(s) under {root} {problem}: {shown}{more}"


def _path_problem(path: str) -> str:
    """What is wrong with a listed path that is not a regular file ("missing" when it simply does not exist)."""
    from seraudit.preprocessing.audio import check_audio_path

    if not os.path.lexists(path):
        return "missing"
    try:
        check_audio_path(path)
    except AudioError as error:  # its message names the path and what it is
        return str(error)
    return "missing"


def _read_csv(path: Path, what: str) -> pd.DataFrame:
    """Read a CSV as text (no NA guessing: speaker "01" stays "01", "NA" stays "NA"); UTF-8 with or without BOM only."""
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise CorpusError(f"{path}: cannot read the {what} ({error.strerror}); check the file and its permissions") from None
    try:
        raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise CorpusError(
            f"{path}: line {line} is not UTF-8 (byte 0x{raw[error.start]:02x}); save the {what} as UTF-8, e.g. "
            f"`iconv -f latin1 -t utf-8 {path.name} > {path.stem}-utf8{path.suffix}` (Excel: CSV UTF-8)"
        ) from None
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True, encoding="utf-8-sig")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise CorpusError(f"{path}: cannot read the {what} as CSV ({error}); save it as UTF-8 CSV with a header row") from None
