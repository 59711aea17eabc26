#!/usr/bin/env python3
"""Finds pipelines that fail at random under `set -o pipefail`.

A reader that stops before its input ends (grep -q, head, sed q, an awk
exit) makes the writer's next write fail with SIGPIPE, and pipefail turns
that into the pipeline's status: `echo "$metrics" | grep -q x` is false now
and then although x is there, depending only on which process the kernel
ran first. chatctl status called a healthy recoverd stale that way once in
about 3,000 tries. Such a match reads a here-string or a $(...) instead, or
a reader that reads to the end (awk 'NR == 1' for head -n 1).

    pipecheck.py [--root DIR] FILE...

Only files that turn pipefail on are read, and the files they source as
"$ROOT/PATH" (PATH under --root, by default this tree), which run under it
too. A line ending in | or \\ is joined with the next. Readers flagged:
head; grep, egrep, fgrep with -q, -m, -l or -L (or their long names); sed
with a q command; awk with an exit before any END; cmp; read. Prints
FILE:LINE: TEXT for each such pipeline and exits 1 if there is any.
"""
import os
import re
import sys

SET_PIPEFAIL = re.compile(r'^\s*set\s[^#\n]*\bpipefail\b', re.M)
SOURCED = re.compile(r'^\s*(?:\.|source)\s+"?\$\{?ROOT\}?/([^"\s]+)"?', re.M)
ASSIGNMENT = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*=')
GREP_ARG_OPTS = set('ABCDdefm')  # short options that take an argument
GREP_EARLY_LONG = ('--quiet', '--silent', '--max-count', '--files-with-matches',
                   '--files-without-match')
SED_QUIT = re.compile(r'(?:^|[;{}\s\d$/])[qQ]\s*\d*\s*(?:;|}|$)')


def words(text):
    """Shell words of one command: (unquoted text, text with quotes removed)."""
    out, cur, raw, quote, i = [], '', '', None, 0
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == quote:
                quote = None
            elif ch == '\\' and quote == '"' and i + 1 < len(text):
                i += 1
                cur += text[i]
            else:
                cur += ch
        elif ch in '\'"':
            quote = ch
            raw += ch
        elif ch == '\\' and i + 1 < len(text):
            i += 1
            cur += text[i]
            raw += text[i]
        elif ch.isspace():
            if cur or raw:
                out.append((raw, cur))
            cur, raw = '', ''
        else:
            cur += ch
            raw += ch
        i += 1
    if cur or raw:
        out.append((raw, cur))
    return out


def split_top(line):
    """The line's pipelines, each a list of commands, cut at top-level |, |&,
    ;, &&, || and parentheses, followed by those of each $(...) in it;
    quotes and comments are honoured."""
    pipelines, inner, cmds, cur, quote, depth, opened, i = [], [], [], '', None, 0, 0, 0
    while i < len(line):
        ch = line[i]
        nxt = line[i + 1] if i + 1 < len(line) else ''
        if quote:
            cur += ch
            if ch == quote:
                quote = None
            elif ch == '\\' and quote == '"':
                cur += nxt
                i += 1
        elif ch in '\'"':
            quote = ch
            cur += ch
        elif ch == '\\':
            cur += ch + nxt
            i += 1
        elif ch == '$' and nxt == '(':
            if not depth:
                opened = i + 2
            depth += 1
            cur += ch
        elif ch == ')' and depth:
            depth -= 1
            if not depth:
                inner += split_top(line[opened:i])
            cur += ch
        elif depth:
            cur += ch
        elif ch == '#' and (not cur or cur[-1].isspace()):
            break
        elif ch == '|' and nxt == '|' or ch == '&' and nxt == '&':
            cmds.append(cur)
            pipelines.append(cmds)
            cmds, cur = [], ''
            i += 1
        elif ch == '|':
            cmds.append(cur)
            cur = ''
            if nxt == '&':
                i += 1
        elif ch in ';()':
            cmds.append(cur)
            pipelines.append(cmds)
            cmds, cur = [], ''
        else:
            cur += ch
        i += 1
    cmds.append(cur)
    pipelines.append(cmds)
    return pipelines + inner


def grep_stops_early(args):
    for raw, w in args:
        if w == '--':
            return False
        if w.startswith('--'):
            if w.split('=')[0] in GREP_EARLY_LONG:
                return True
        elif w.startswith('-') and len(w) > 1 and raw.startswith('-'):
            for ch in w[1:]:
                if ch in 'qlLm':
                    return True
                if ch in GREP_ARG_OPTS:
                    break
    return False


def stops_early(cmd):
    ws = words(cmd)
    while ws and (ws[0][1] in ('!', 'command', 'env', 'exec') or ASSIGNMENT.match(ws[0][1])):
        ws = ws[1:]
    if not ws:
        return False
    name, args = os.path.basename(ws[0][1]), ws[1:]
    if name in ('head', 'cmp', 'read'):
        return True
    if name in ('grep', 'egrep', 'fgrep'):
        return grep_stops_early(args)
    if name == 'sed':
        return any(SED_QUIT.search(w) for raw, w in args if not raw.startswith('-'))
    if name in ('awk', 'gawk', 'mawk'):
        for raw, w in args:
            m = re.search(r'\bexit\b', w)
            if m and not re.search(r'\bEND\b', w[:m.start()]):
                return True
    return False


def logical_lines(text):
    start, parts = None, []
    for n, line in enumerate(text.splitlines(), 1):
        if start is None:
            start = n
        stripped = line.rstrip()
        code = re.sub(r'\s+#[^\'"]*$', '', stripped)
        if code.endswith('\\'):
            parts.append(code[:-1])
            continue
        parts.append(code)
        if code.endswith('|') and not code.endswith('||'):
            continue
        yield start, ' '.join(p.strip() for p in parts)
        start, parts = None, []
    if parts:
        yield start, ' '.join(p.strip() for p in parts)


def early_pipelines(text):
    for n, line in logical_lines(text):
        if line.lstrip().startswith('#'):
            continue
        if any(stops_early(c) for p in split_top(line) for c in p[1:]):
            yield n, line


def read(path):
    try:
        with open(path, encoding='utf-8', errors='replace') as f:
            return f.read()
    except OSError as e:
        print(f'{path}: {e.strerror}')
        return None


def main(argv):
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if argv[:1] == ['--root'] and len(argv) > 1:
        root, argv = argv[1], argv[2:]
    if not argv:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    bad, seen, todo = 0, set(), []
    for path in argv:
        text = read(path)
        if text is None:
            bad += 1
        elif SET_PIPEFAIL.search(text):
            todo.append((path, text))
    while todo:
        path, text = todo.pop(0)
        if os.path.realpath(path) in seen:
            continue
        seen.add(os.path.realpath(path))
        for n, line in early_pipelines(text):
            print(f'{path}:{n}: {line}')
            bad += 1
        for rel in SOURCED.findall(text):
            sourced = os.path.join(root, rel)
            more = read(sourced)
            if more is None:
                bad += 1
            else:
                todo.append((sourced, more))
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
