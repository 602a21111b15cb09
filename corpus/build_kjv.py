"""Rebuild corpus/kjv.txt.xz from a `bible -l0 "Gen1:1-Rev22:21"` dump (see corpus/README.md).

Usage: python corpus/build_kjv.py /tmp/kjv.txt
"""
import argparse
import lzma
import pathlib
import re

OUT = pathlib.Path(__file__).with_name("kjv.txt.xz")
VERSE = re.compile(r"^\s+(\d+) (.*)$")
CHAPTERS, VERSES = 1189, 31102  # the whole KJV; anything else means a truncated dump
DOC_SEPARATOR = "\n\n"  # safe because a chapter document never contains a blank line


def parse_chapters(dump):
    """[(heading, [verse text, ...]), ...] from the dump's 'Book N' headings and '  n verse' lines."""
    chapters = []
    for line in dump.splitlines():
        if not line.strip():
            continue
        verse = VERSE.match(line)
        if verse is None:
            chapters.append((line.strip(), []))
            continue
        heading, verses = chapters[-1]
        if int(verse.group(1)) != len(verses) + 1:
            raise SystemExit(f"error: {heading} verse {verse.group(1)} is out of order: is the dump intact?")
        verses.append(" ".join(verse.group(2).split()))  # the source has a few stray double/trailing spaces
    return chapters


def chapter_document(heading, verses):
    # One verse per line, as the KJV is typeset; joining them into one paragraph per chapter
    # gives 997K GPT-2 tokens, short of the 1M the built-in corpus promises.
    return heading + "\n" + "\n".join(verses)


def build(dump_path):
    dump_path = pathlib.Path(dump_path)
    if not dump_path.is_file():
        raise SystemExit(f"error: {dump_path} not found: make it with `bible -l0 \"Gen1:1-Rev22:21\" > {dump_path}`")
    chapters = parse_chapters(dump_path.read_text(encoding="utf-8"))
    n_verses = sum(len(v) for _, v in chapters)
    if (len(chapters), n_verses) != (CHAPTERS, VERSES):
        raise SystemExit(f"error: {dump_path} has {len(chapters)} chapters / {n_verses} verses, "
                         f"expected {CHAPTERS} / {VERSES}: regenerate it (see corpus/README.md)")
    text = DOC_SEPARATOR.join(chapter_document(h, v) for h, v in chapters) + "\n"
    OUT.write_bytes(lzma.compress(text.encode("utf-8"), preset=9 | lzma.PRESET_EXTREME))
    print(f"wrote {OUT}: {len(chapters)} chapters, {len(text):,} chars, {OUT.stat().st_size:,} bytes")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dump", help='output of `bible -l0 "Gen1:1-Rev22:21"`')
    build(parser.parse_args().dump)
