#!/usr/bin/env python3
"""Finds pipelines that fail at random under `set -o pipefail`.

A reader that stops before its input ends (grep -q, grep -m, head) makes
the writer's next write fail with SIGPIPE, and pipefail turns that into the
pipeline's status: `echo "$metrics" | grep -q x` is false now and then
although x is there, depending only on which process the kernel ran first.
chatctl status called a healthy recoverd stale that way once in about 3,000
tries. Such a match reads a here-string or a $(...) instead.

    pipecheck.py FILE...

Only files that turn pipefail on are read. A line ending in | or \\ is
joined with the next. Prints FILE:LINE: TEXT for each such pipeline and
exits 1 if there is any.
"""
import re
import sys

PIPEFAIL = re.compile(r'^\s*set\s+-[a-zA-Z]*o\s+pipefail\b|^\s*set\s+-o\s+pipefail\b', re.M)
EARLY = re.compile(r'(?<![|])\|(?![|])\s*(head\b|grep\s+(?:-[a-zA-Z]+\s+)*-[a-zA-Z]*[qm]|grep\s.*--(?:quiet|silent|max-count))')


def logical_lines(text):
    start, parts = None, []
    for n, line in enumerate(text.splitlines(), 1):
        if start is None:
            start = n
        stripped = line.rstrip()
        if stripped.endswith('\\'):
            parts.append(stripped[:-1])
            continue
        parts.append(stripped)
        if stripped.endswith('|') and not stripped.endswith('||'):
            continue
        yield start, ' '.join(p.strip() for p in parts)
        start, parts = None, []
    if parts:
        yield start, ' '.join(p.strip() for p in parts)


def check(path):
    try:
        with open(path, encoding='utf-8', errors='replace') as f:
            text = f.read()
    except OSError as e:
        print(f'{path}: {e.strerror}')
        return 1
    if not PIPEFAIL.search(text):
        return 0
    bad = 0
    for n, line in logical_lines(text):
        if line.lstrip().startswith('#'):
            continue
        if EARLY.search(line):
            print(f'{path}:{n}: {line}')
            bad += 1
    return bad


def main(argv):
    if not argv:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    return 1 if sum(check(p) for p in argv) else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
