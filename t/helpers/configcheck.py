#!/usr/bin/env python3
"""Checks each program's configuration three ways:

  (a) every environment variable its sources read appears in `PROG --help`;
  (b) every knob of `PROG --help` appears in doc/configuration.md for PROG
      with the same default, and the page lists no knob for PROG that
      --help does not;
  (c) every knob of `PROG --help` is read by its sources (none left over).

    configcheck.py [--root DIR] [--doc FILE] [--bin DIR] [--list]

A program's sources are src/PROG/*.[ch] and the src/common/X.[ch] whose
object the binary links (one of X.o's global symbols is defined in it: a
static library adds only the objects a program uses). Reads are the calls
getenv("NAME"), secure_getenv("NAME"), env_*("NAME", ...) and
config_*(&table, "NAME"); a getenv of anything but a literal outside
config.c and util.c (the readers of the tables) is an error too, since its
name cannot be checked. The binaries are those of --bin (bin/ of this
tree), the objects those beside it (build/VARIANT/common); --root points
at the sources, --doc at the page.

doc/configuration.md: tables with a `variable` and a `default` column; a
table with a `programs` column applies to the programs named there, any
other to the program its section heading names (tables under another
heading are not the programs'). One variable per row; backticks are
ignored.

Prints each problem on a line and exits 1 if there is any; --list prints
PROG, NAME, default and where it is read, for every knob found.
"""
import argparse
import glob
import os
import re
import subprocess
import sys

PROGRAMS = ['chat-fcgi', 'ws-relay', 'ai-streamer', 'recoverd', 'archiver', 'chat-cli', 'chat-bench']
TABLE_READERS = {'config.c', 'util.c'}
READ = re.compile(r'\b(?:secure_getenv|getenv|env_\w+|config_\w+)\s*\(\s*'
                  r'(?:&?[A-Za-z_][\w.>-]*\s*,\s*)?"([^"]*)"')
ANY_GETENV = re.compile(r'\b(?:secure_)?getenv\s*\(\s*([^)]*)\)')
HELP_KNOB = re.compile(r'^  ([A-Z][A-Z0-9_]*) +(\S+)')


def root_of_repo():
    return os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))


def defined_symbols(path):
    out = subprocess.run(['nm', '--defined-only', '-g', path], capture_output=True,
                         text=True, check=True).stdout
    syms = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in 'TDRBGSC':
            syms.add(parts[2])
    return syms


def linked_common(binary, objdir):
    """The names X of the src/common/X.c whose object the binary holds."""
    have = defined_symbols(binary)
    linked = set()
    for obj in glob.glob(os.path.join(objdir, '*.o')):
        if defined_symbols(obj) & have:
            linked.add(os.path.basename(obj)[:-2])
    return linked


def reads(path, rel, problems, prog):
    """{NAME: where} of the variables the file reads."""
    text = open(path, encoding='utf-8', errors='replace').read()
    found = {}
    for m in READ.finditer(text):
        line = text.count('\n', 0, m.start()) + 1
        found.setdefault(m.group(1), '%s:%d' % (rel, line))
    if os.path.basename(path) not in TABLE_READERS:
        for m in ANY_GETENV.finditer(text):
            if not m.group(1).strip().startswith('"'):
                line = text.count('\n', 0, m.start()) + 1
                problems.append('%s: %s:%d reads a variable whose name is not a literal: %s'
                                % (prog, rel, line, m.group(0)))
    return found


def sources(root, prog, linked):
    files = sorted(glob.glob(os.path.join(root, 'src', prog, '*.[ch]')))
    for name in sorted(linked):
        for ext in ('.c', '.h'):
            path = os.path.join(root, 'src', 'common', name + ext)
            if os.path.exists(path):
                files.append(path)
    return files


def help_knobs(binary):
    """{NAME: default} of the environment section of --help, in order."""
    out = subprocess.run([binary, '--help'], capture_output=True, text=True).stdout
    knobs = {}
    in_env = False
    for line in out.splitlines():
        if line.startswith('environment (default):'):
            in_env = True
            continue
        if in_env:
            m = HELP_KNOB.match(line)
            if m:
                knobs[m.group(1)] = m.group(2)
            elif line and not line.startswith('   '):
                in_env = False
    return knobs


def cells(line):
    return [c.strip().replace('`', '') for c in line.strip().strip('|').split('|')]


def doc_knobs(path):
    """{PROG: {NAME: (default, line)}} from the page's tables."""
    per = {p: {} for p in PROGRAMS}
    heading = None
    header = None
    for n, line in enumerate(open(path, encoding='utf-8'), 1):
        if line.startswith('#'):
            heading = line.lstrip('#').strip()
            header = None
            continue
        if not line.startswith('|'):
            header = None
            continue
        row = cells(line)
        if header is None:
            header = row
            continue
        if set(''.join(row)) <= set('-: '):
            continue
        if 'variable' not in header or 'default' not in header:
            continue
        get = dict(zip(header, row))
        if 'programs' in header:
            progs = [p.strip() for p in get.get('programs', '').split(',')]
        else:
            progs = [heading]
        for prog in progs:
            if prog in per:
                per[prog][get['variable']] = (get['default'], n)
    return per


def check(root, doc, bindir, listing):
    problems = []
    variant = open(os.path.join(bindir, '.variant')).read().strip()
    objdir = os.path.join(os.path.dirname(bindir), 'build', variant, 'common')
    documented = doc_knobs(doc)
    docname = os.path.relpath(doc, root) if doc.startswith(root) else doc
    for prog in PROGRAMS:
        binary = os.path.join(bindir, prog)
        read = {}
        for path in sources(root, prog, linked_common(binary, objdir)):
            for name, where in reads(path, os.path.relpath(path, root), problems, prog).items():
                read.setdefault(name, where)
        shown = help_knobs(binary)
        listed = documented[prog]
        for name, where in sorted(read.items()):
            if name not in shown:
                problems.append('%s reads %s (%s), which its --help does not name'
                                % (prog, name, where))
        for name, default in shown.items():
            if listing:
                print('%s\t%s\t%s\t%s' % (prog, name, default, read.get(name, '-')))
            if name not in read:
                problems.append('%s --help names %s, which its sources never read' % (prog, name))
            if name not in listed:
                problems.append('%s --help names %s, missing from %s' % (prog, name, docname))
            elif listed[name][0] != default:
                problems.append('%s: %s defaults to %s in --help but to %s in %s (line %d)'
                                % (prog, name, default, listed[name][0], docname, listed[name][1]))
        for name, (_, line) in sorted(listed.items()):
            if name not in shown:
                problems.append('%s (line %d) lists %s for %s, whose --help does not name it'
                                % (docname, line, name, prog))
        if not shown and (read or listed):
            problems.append('%s --help has no environment section' % prog)
    return problems


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--root', default=root_of_repo())
    ap.add_argument('--doc')
    ap.add_argument('--bin')
    ap.add_argument('--list', action='store_true')
    args = ap.parse_args()
    root = os.path.abspath(args.root)
    doc = os.path.abspath(args.doc or os.path.join(root, 'doc', 'configuration.md'))
    bindir = os.path.abspath(args.bin or os.path.join(root_of_repo(), 'bin'))
    problems = check(root, doc, bindir, args.list)
    for p in problems:
        print(p)
    sys.exit(1 if problems else 0)


if __name__ == '__main__':
    main()
