"""The one downloader: checksums before the file appears, resume with Range, clear errors (local server only)."""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pytest

from seraudit.core.download import (
    ChecksumError,
    DiskFullError,
    IncompleteDownloadError,
    download_file,
    partial_path,
)

PAYLOAD = np.random.default_rng(3).bytes(2 * (1 << 20) + 123)  # several chunks
MD5 = hashlib.md5(PAYLOAD).hexdigest()


def test_a_download_matching_both_checksums_lands_at_its_target(range_server, tmp_path):
    digest = range_server.serve("a.bin", PAYLOAD)
    target = tmp_path / "out" / "a.bin"

    got = download_file(range_server.url("a.bin"), target, sha256=digest, md5=MD5, progress=False)

    assert target.read_bytes() == PAYLOAD and got.sha256 == digest and got.md5 == MD5 and got.size == len(PAYLOAD)
    assert not partial_path(target).exists()


def test_an_interrupted_download_resumes_from_where_it_stopped(range_server, tmp_path):
    digest = range_server.serve("a.bin", PAYLOAD)
    range_server.cut_once("a.bin", 1_500_000)
    target = tmp_path / "a.bin"

    with pytest.raises(IncompleteDownloadError, match=r"stopped after 1500000 of \d+ bytes.*run the same command again to resume"):
        download_file(range_server.url("a.bin"), target, sha256=digest, progress=False)
    assert not target.exists() and partial_path(target).stat().st_size == 1_500_000

    got = download_file(range_server.url("a.bin"), target, sha256=digest, progress=False)

    assert got.resumed_from == 1_500_000 and target.read_bytes() == PAYLOAD
    assert range_server.requests[-1][1] == "bytes=1500000-"


def test_a_server_ignoring_the_range_restarts_the_download_cleanly(range_server, tmp_path):
    digest = range_server.serve("a.bin", PAYLOAD)
    target = tmp_path / "a.bin"
    partial_path(target).write_bytes(b"garbage that must not stay in front")
    range_server.ranges = False

    got = download_file(range_server.url("a.bin"), target, sha256=digest, progress=False)

    assert got.resumed_from == 0 and target.read_bytes() == PAYLOAD


def test_a_checksum_mismatch_names_both_hashes_and_leaves_no_file(range_server, tmp_path):
    served = range_server.serve("a.bin", PAYLOAD[:-1] + b"X")
    target = tmp_path / "a.bin"
    expected = hashlib.sha256(PAYLOAD).hexdigest()

    with pytest.raises(ChecksumError) as caught:
        download_file(range_server.url("a.bin"), target, sha256=expected, progress=False)

    assert expected in str(caught.value) and served in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_an_md5_mismatch_is_refused_too(range_server, tmp_path):
    range_server.serve("a.bin", b"tampered")
    with pytest.raises(ChecksumError, match=f"expected md5 {MD5}"):
        download_file(range_server.url("a.bin"), tmp_path / "a.bin", md5=MD5, progress=False)


def test_a_full_disk_is_reported_as_such(range_server, tmp_path):
    if not os.path.exists("/dev/full"):
        pytest.skip("/dev/full (a device that is always full) exists on Linux only")
    range_server.serve("a.bin", PAYLOAD)
    target = tmp_path / "a.bin"
    partial_path(target).symlink_to("/dev/full")  # every write there fails with ENOSPC

    with pytest.raises(DiskFullError, match=r"disk full while writing .*a\.bin\.part.*free some space"):
        download_file(range_server.url("a.bin"), target, progress=False)
    assert not target.exists()


def test_an_http_error_names_the_address_and_status(range_server, tmp_path):
    with pytest.raises(Exception, match=r"missing\.bin failed: HTTP 404"):
        download_file(range_server.url("missing.bin"), tmp_path / "m.bin", progress=False)
