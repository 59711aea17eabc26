#!/usr/bin/env python3
"""Checks that doc/redis.md names every Redis key, hash field, job field,
status word and script answer that the code uses.

    doccheck.py [--root DIR] [--doc FILE] [--list]
    doccheck.py --links      relative links of README.md and doc/*.md resolve

Names are gathered from src/common/keys.[ch] (key patterns, the consumer
group), share/lua/*.lua (keys in KEYS comments and in code, fields of
HSET/HSETNX/HGET/HMGET/HINCRBY/HEXISTS, XADD fields, status words compared
or written, the words a script returns) and the C sources (fields in the
format strings of redisCommand and its kin, in ai-streamer --pipe's CMD
lines and chat-fcgi's metrics PAIRs, the names read back from a hash or a
job entry, the statuses compared or ended with). Each must appear in
backticks in the document; placeholders match placeholders: `{M}`, `{%s}`
and `{' .. n .. '}` are all `{*}` (so is a partition's tag with the id after
it, `{t}M`), and `<window>`, `%lld` are `*`.

Prints what is missing, one per line with where it was seen, and exits 1
if anything is; --list prints every name it checked.
"""
import argparse
import glob
import os
import re
import sys

HASH_READS = {'HGET', 'HMGET', 'HEXISTS', 'HINCRBY', 'HDEL'}
HASH_WRITES = {'HSET', 'HSETNX'}
WORD = re.compile(r'^[a-z][a-z0-9_]*(?::[a-z0-9_%<>{}*]+)*:?$')


def norm(name):
    """One spelling for a pattern: ids in braces and placeholders become *."""
    name = re.sub(r'\{[^{}]*\}[A-Z]?', '{*}', name)
    name = re.sub(r'<[^<>]*>', '*', name)
    name = re.sub(r'%[-0-9.]*(?:ll|l)?[sdufx]', '*', name)
    return name


class Names:
    def __init__(self):
        self.seen = {}

    def add(self, kind, name, where):
        if not name:
            return
        self.seen.setdefault((kind, norm(name)), (name, where))


def strip_prefix(fmt):
    return fmt[2:] if fmt.startswith('%s') else fmt


def from_keys(root, names):
    src = open(os.path.join(root, 'src/common/keys.c')).read()
    for m in re.finditer(r'name\(o, "([^"]+)", (NULL|\w+)\)', src):
        kind, arg = m.groups()
        names.add('key', kind if arg == 'NULL' else kind + '{*}', 'src/common/keys.c')
    for m in re.finditer(r'(?:of_message|of_session|tagged)\(o, "([^"]+)", \w+', src):
        names.add('key', m.group(1) + '{*}', 'src/common/keys.c')
    for m in re.finditer(r'snprintf\(o, KEY_MAX, "([^"]+)"', src):
        names.add('key', strip_prefix(m.group(1)), 'src/common/keys.c')
    hdr = open(os.path.join(root, 'src/common/keys.h')).read()
    for m in re.finditer(r'#define JOBS_GROUP "([^"]+)"', hdr):
        names.add('group', m.group(1), 'src/common/keys.h')


def lua_args(text, start):
    """The top-level arguments of the call whose '(' is at text[start]."""
    depth, cur, out, i, quote = 0, '', [], start, None
    while i < len(text):
        c = text[i]
        if quote:
            cur += c
            if c == quote:
                quote = None
        elif c in '\'"':
            quote = c
            cur += c
        elif c in '({[':
            depth += 1
            if depth > 1:
                cur += c
        elif c in ')}]':
            depth -= 1
            if depth == 0:
                out.append(cur.strip())
                return out
            cur += c
        elif c == ',' and depth == 1:
            out.append(cur.strip())
            cur = ''
        else:
            cur += c
        i += 1
    return out


def literal(arg):
    m = re.fullmatch(r"'([^']*)'", arg)
    return m.group(1) if m else None


def from_lua(root, names):
    for path in sorted(glob.glob(os.path.join(root, 'share/lua/*.lua'))):
        rel = os.path.relpath(path, root)
        text = open(path).read()
        code = '\n'.join(l for l in text.splitlines() if not l.lstrip().startswith('--'))
        # keys in the KEYS lines of the header comment
        header = re.findall(r'^--(.*)$', text, re.M)
        in_keys = False
        for line in header:
            if 'KEYS:' in line:
                in_keys = True
                line = line.split('KEYS:', 1)[1]
            if 'ARGV:' in line:
                line = line.split('ARGV:', 1)[0]
                if in_keys:
                    in_keys = False
                    for tok in line.split():
                        if ':' in tok[1:] and WORD.match(tok.rstrip(',')):
                            names.add('key', tok, rel)
                continue
            if in_keys and not re.match(r'\s+\d|\s*KEYS|\s*[a-z]', line) and line.strip():
                in_keys = False
            if in_keys:
                for tok in line.split():
                    if ':' in tok[1:] and WORD.match(tok.rstrip(',')):
                        names.add('key', tok, rel)
        # keys the script names itself: prefix .. 'kind:{' .. id .. '}'
        for m in re.finditer(r"'([a-z]+(?::[a-z]+)*:)\{'", code):
            names.add('key', m.group(1) + '{*}', rel)
        # hash fields and stream fields
        for m in re.finditer(r"redis\.call\('([A-Z]+)'", code):
            cmd = m.group(1)
            args = lua_args(code, m.start() + len('redis.call'))
            if cmd in HASH_WRITES:
                for a in args[2::2]:
                    names.add('field', literal(a), rel)
                if cmd == 'HSET':
                    for f, v in zip(args[2::2], args[3::2]):
                        if literal(f) == 'status':
                            names.add('status', literal(v), rel)
            elif cmd in HASH_READS:
                for a in args[2:3] if cmd in ('HINCRBY', 'HEXISTS') else args[2:]:
                    names.add('field', literal(a), rel)
            elif cmd == 'XADD':
                star = args.index("'*'") if "'*'" in args else len(args)
                for a in args[star + 1::2]:
                    names.add('job field', literal(a), rel)
        # status words compared with a status
        for m in re.finditer(r"(?:status|meta\[\d\])\s*[~=]=\s*'([a-z_]+)'", code):
            names.add('status', m.group(1), rel)
        # the words a script answers
        for line in code.splitlines():
            ret = re.search(r'\breturn\b(.*)', line)
            if ret:
                for w in re.findall(r"'([a-z_]+:?)'", ret.group(1)):
                    names.add('answer', w, rel)
            for w in re.findall(r"^\s*out\[[^]]*\]\s*=\s*'([a-z_]+:?)'", line):
                names.add('answer', w, rel)
        for w in re.findall(r"'(#[a-z_]+)'", code):
            names.add('lock mark', w, rel)


def c_strings(text, start):
    """The adjacent string literals starting at text[start] (after spaces)."""
    out = ''
    i = start
    while True:
        m = re.compile(r'\s*"((?:[^"\\]|\\.)*)"').match(text, i)
        if not m:
            return out
        out += m.group(1)
        i = m.end()


def from_c(root, names):
    paths = sorted(glob.glob(os.path.join(root, 'src/*/*.c')))
    for path in paths:
        rel = os.path.relpath(path, root)
        text = open(path).read()
        # format strings: redisCommand(c, "HSET %s f %s ..."), and kin
        for m in re.finditer(r'\b(?:redisCommand|redisAsyncCommand|redisAppendCommand|command)'
                             r'\s*\(', text):
            call = text[m.end():text.find(';', m.end())]
            if '"' not in call:
                continue
            fmt = c_strings(call, call.index('"'))
            toks = fmt.split()
            if len(toks) < 3:
                continue
            cmd, rest = toks[0], toks[2:]
            if cmd in HASH_WRITES:
                fields = rest[0::2]
            elif cmd in HASH_READS:
                fields = rest
            else:
                continue
            for f in fields:
                if WORD.match(f):
                    names.add('field', f, rel)
        # a heartbeat's hash: heartbeat_fields(&hb, "name %s name %lld ...") (src/common/heartbeat.h)
        for m in re.finditer(r'\bheartbeat_fields\s*\(', text):
            call = text[m.end():text.find(';', m.end())]
            if '"' not in call:
                continue
            for f in c_strings(call, call.index('"')).split()[0::2]:
                if WORD.match(f):
                    names.add('field', f, rel)
        # CMD(out, "HSET", key, "field", value, ...) in ai-streamer --pipe
        for m in re.finditer(r'CMD\(\w+, "(HSET)", \w+,', text):
            args = lua_args(text, m.start() + 3)
            for i, a in enumerate(args[3:]):
                lit = re.fullmatch(r'"([^"]*)"', a)
                if i % 2 == 0 and lit:
                    names.add('field', lit.group(1), rel)
                elif i % 2 == 1 and lit and args[3 + i - 1] == '"status"':
                    names.add('status', lit.group(1), rel)
        # chat-fcgi's metrics: PAIR("req:%s:%d") names a field, PAIR("%llu") a value
        for m in re.finditer(r'PAIR\("([a-z][^"]*)"', text):
            names.add('field', m.group(1), rel)
        # names read back from a hash or a job entry
        for m in re.finditer(r'\b(?:hash_)?field\([^;"]*?"([a-zA-Z_]+)"', text):
            names.add('field', m.group(1), rel)
        for m in re.finditer(r'strcmp\(k, "([a-zA-Z_]+)"\)', text):
            names.add('field', m.group(1), rel)
        # statuses compared, and the ends a worker writes
        for m in re.finditer(r'strcmp\((?:status|st|mstatus|m->element\[0\]->str), "([a-z_]+)"\)',
                             text):
            names.add('status', m.group(1), rel)
        for m in re.finditer(r'\bfinish\(j, "([a-z_]+)"\)', text):
            names.add('status', m.group(1), rel)


def documented(doc_text):
    return {norm(t) for t in re.findall(r'`([^`\n]+)`', doc_text)}


def broken_links(root):
    """Relative links of README.md and doc/*.md that name no file."""
    out = []
    pages = [os.path.join(root, 'README.md')] + sorted(glob.glob(os.path.join(root, 'doc/*.md')))
    for page in pages:
        for target in re.findall(r'\]\(([^)\s]+)\)', open(page).read()):
            if re.match(r'[a-z]+:', target) or target.startswith('#'):
                continue
            path = os.path.join(os.path.dirname(page), target.split('#')[0])
            if not os.path.exists(path):
                out.append(f'{os.path.relpath(page, root)}: link to {target}: no such file')
    return out


def main():
    ap = argparse.ArgumentParser()
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument('--root', default=os.path.normpath(os.path.join(here, '..', '..')))
    ap.add_argument('--doc')
    ap.add_argument('--list', action='store_true')
    ap.add_argument('--links', action='store_true', help='check the documents\' links instead')
    o = ap.parse_args()
    if o.links:
        bad = broken_links(o.root)
        print('\n'.join(bad)) if bad else None
        return 1 if bad else 0
    doc = o.doc or os.path.join(o.root, 'doc/redis.md')
    names = Names()
    from_keys(o.root, names)
    from_lua(o.root, names)
    from_c(o.root, names)
    have = documented(open(doc).read())
    missing = 0
    for (kind, key), (name, where) in sorted(names.seen.items()):
        if o.list:
            print(f'{kind}\t{name}\t{where}')
        # an answer such as 'index:' .. n is documented as `index:<count>`
        prefixed = key.endswith(':') and any(h.startswith(key) and h != key for h in have)
        if key not in have and not prefixed:
            print(f'missing from {o.doc or "doc/redis.md"}: {kind} `{name}` ({where})')
            missing += 1
    # a checker that finds nothing checks nothing
    kinds = {k for k, _ in names.seen}
    for kind in ('key', 'field', 'job field', 'status', 'answer', 'group'):
        if kind not in kinds:
            print(f'doccheck: found no {kind} in the sources: the checker is broken')
            missing += 1
    print(f'doccheck: {len(names.seen)} names, {missing} missing', file=sys.stderr)
    return 1 if missing else 0


if __name__ == '__main__':
    sys.exit(main())
