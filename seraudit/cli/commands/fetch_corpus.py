"""`seraudit fetch-corpus`: download an openly downloadable corpus, verify it, extract it safely, print its folder."""

from __future__ import annotations

import argparse
import sys

from seraudit.cli.options import add_quiet
from seraudit.preprocessing.corpus_download import SOURCES


def _sources_table() -> str:
    lines = []
    for source in SOURCES.values():
        how = "direct download" if source.url else "by hand: " + source.page
        lines.append(f"  {source.name:<12} {how}")
    return "\n".join(lines)


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "fetch-corpus",
        help="download a corpus from its official address into the cache (RAVDESS, EmoDB) and print its folder",
        description="Download an openly downloadable corpus from its official address, check its pinned checksum, "
        "extract it safely (no member may land outside the destination) and print the folder to pass as --data. "
        "An interrupted download resumes where it stopped. Corpora behind a licence form or a registration "
        "are not downloaded: the command says where to get them.",
        epilog="corpora:\n" + _sources_table(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("name", choices=tuple(SOURCES), metavar="NAME", help=f"one of {', '.join(SOURCES)}")
    parser.add_argument("--dest", default=None, metavar="DIR",
                        help="folder to extract into (default: $SERAUDIT_CACHE_DIR/corpora/NAME)")
    parser.add_argument("--url", default=None, help="download from this address instead (a mirror of the same archive)")
    parser.add_argument("--sha256", default=None, metavar="HEX",
                        help="expected SHA-256 of the archive; replaces the pinned checksum (e.g. for a mirror's own file)")
    parser.add_argument("--keep-archive", action="store_true", help="keep the downloaded archive beside the folder")
    add_quiet(parser)
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from seraudit.preprocessing.corpus_download import (
        SOURCES as sources,
        UNVERIFIED_FIRST,
        ManualCorpusError,
        fetch_corpus,
    )

    source = sources[args.name]
    if source.url is not None and args.url is None and not args.quiet:
        size = f", {source.size / 1e6:.0f} MB" if source.size else ""
        print(f"fetching {source.display} ({source.licence}{size}) from {source.url}", file=sys.stderr)
    try:
        fetched = fetch_corpus(args.name, args.dest, url=args.url, sha256=args.sha256,
                               progress=not args.quiet, keep_archive=args.keep_archive)
    except ManualCorpusError as error:
        print(str(error), file=sys.stderr)
        return 1
    if fetched.reused:
        print(f"{args.name} was fetched before ({fetched.integrity}); reusing {fetched.path}", file=sys.stderr)
    else:
        print(f"{args.name}: sha256 {fetched.sha256}, {fetched.integrity}", file=sys.stderr)
        if fetched.integrity == UNVERIFIED_FIRST:
            print("  no checksum is published for this archive: this SHA-256 is recorded and later downloads "
                  "are checked against it", file=sys.stderr)
    print(f"train with: seraudit train {source.data_hint.split(' (')[0].replace('DIR', str(fetched.path))}",
          file=sys.stderr)
    print(fetched.path)
    return 0
