#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The house's rules (docs/architecture.md), checked on the tree and the built libraries.

  floors     every #include and every call between libraries runs down a floor or stays on
             it; the folders (and the libraries) form no circle
  size       no top-level folder holds more than a quarter of the non-test code
  core       the NSM core library (libnsmsim.a, nsmsim_handle) needs no verifier (nsmv_)
             and no fault (nsmfault_) symbol
  length     no function outside tests/ and fuzz/ runs over 100 lines (its body)

Prints one `ok:` or `FAIL:` line per rule and exits 1 when any failed.
Usage: structure_check.py BUILD_DIR
"""
import os
import re
import subprocess
import sys

# Floors, lowest first. A folder may use its own floor and those below. A new component
# gets a row here (eif/ and vsock/ have theirs beside kms/).
FLOORS = {
    'common': 0,
    'ca-tools': 1,
    'verifier': 1,
    'eif': 1,  # images: only common/ below it; faults/ reads --eif through it
    'nsm-core': 2,
    'faults': 3,
    'frontends/transports': 4,
    'kms': 4,
    'vsock': 4,
    'frontends/devnsm': 5,
    'frontends/devices': 5,
    'nsm-sim': 6,
    'harness': 6,
    'nitro-cli': 6,
    'qemu': 6,
}
INCLUDE_DIRS = ['common/include', 'ca-tools/include', 'verifier/include', 'nsm-core/include',
                'faults/include', 'kms/include', 'eif/include', 'vsock/include']
LIBRARIES = {  # built static library -> folder it is made of
    'libnsmkit-common.a': 'common',
    'libnsmca.a': 'ca-tools',
    'libnsmverify.a': 'verifier',
    'libnsmsim.a': 'nsm-core',
    'libnsmfault.a': 'faults',
    'libnsmeif.a': 'eif',
    'libnsmfront.a': 'frontends/transports',  # transports, devnsm and devices: floor 4..5
    'libnsmkms.a': 'kms',
    'libnsmsim-cmd.a': 'nsm-sim',
}
NOT_CODE = ('tests/', 'fuzz/', 'bench/', 'docs/', 'man/', 'vectors/', 'build')
# Functions over the limit in folders other helpers own, named so that the list can only
# shrink: a name here that is no longer long fails the check too.
LONG_ALLOWED = {
    ('bench/devnsm_bench.c', 'main'), ('bench/kms_bench.c', 'main'),
    ('bench/verify_bench.c', 'main'),
}
MAX_LINES = 100

failures = 0


def report(ok, what):
    global failures
    print(('ok: ' if ok else 'FAIL: ') + what)
    if not ok:
        failures += 1


def tracked(pattern):
    out = subprocess.check_output(['git', 'ls-files', pattern]).decode()
    return [f for f in out.split() if os.path.exists(f)]


def folder_of(path):
    best = None
    for f in FLOORS:
        if path == f or path.startswith(f + '/'):
            if best is None or len(f) > len(best):
                best = f
    return best


def resolve(src, name):
    for cand in [os.path.join(os.path.dirname(src), name), name] + \
                [os.path.join(d, name) for d in INCLUDE_DIRS]:
        cand = os.path.normpath(cand)
        if os.path.isfile(cand):
            return cand
    return None  # a system header


def circles(edges):
    """Every strongly connected set of more than one node (Tarjan), each sorted."""
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]
    nodes = set(edges) | {m for ms in edges.values() for m in ms}

    def visit(n):
        index[n] = low[n] = counter[0]
        counter[0] += 1
        stack.append(n)
        on.add(n)
        for m in edges.get(n, ()):
            if m not in index:
                visit(m)
                low[n] = min(low[n], low[m])
            elif m in on:
                low[n] = min(low[n], index[m])
        if low[n] == index[n]:
            group = []
            while True:
                m = stack.pop()
                on.discard(m)
                group.append(m)
                if m == n:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    sys.setrecursionlimit(10000)
    for n in sorted(nodes):
        if n not in index:
            visit(n)
    return out


def find_circle(edges):
    """A circle in the graph {node: set(nodes)} as a list, or None."""
    state, stack = {}, []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(edges.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state:
                c = visit(m)
                if c:
                    return c
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(edges):
        if n not in state:
            c = visit(n)
            if c:
                return c
    return None


def check_includes():
    edges, up = {}, []
    for src in tracked('*.[ch]') + tracked('*.def'):
        a = folder_of(src)
        if a is None:
            continue
        text = open(src, encoding='utf-8', errors='replace').read()
        for name in re.findall(r'^\s*#\s*include\s+"([^"]+)"', text, re.M):
            target = resolve(src, name)
            b = folder_of(target) if target else None
            if b is None or b == a:
                continue
            edges.setdefault(a, set()).add(b)
            if FLOORS[b] > FLOORS[a]:
                up.append('%s includes %s (floor %d -> %d)' % (src, target, FLOORS[a], FLOORS[b]))
    report(not up, 'no #include runs up a floor' + ('' if not up else ': ' + '; '.join(up)))
    circle = find_circle(edges)
    report(circle is None, 'the folders include one another in no circle' +
           ('' if circle is None else ': ' + ' -> '.join(circle)))


def nm(path, *flags):
    out = subprocess.run(['nm', '-A'] + list(flags) + [path], capture_output=True, text=True)
    rows = []
    for line in out.stdout.splitlines():
        # "lib.a:member.o:<addr> T name" or "lib.a:member.o:                 U name"
        m = re.match(r'^[^:]*:([^:]+):\s*(?:[0-9a-fA-F]+\s+)?(\S)\s+(\S+)$', line)
        if m:
            rows.append((m.group(1), m.group(2), m.group(3)))
    return rows


def check_libraries(build):
    libdir = os.path.join(build, 'lib')
    defined, undefined = {}, {}
    for lib in LIBRARIES:
        path = os.path.join(libdir, lib)
        if not os.path.exists(path):
            report(False, '%s is built (run make all first)' % path)
            return
        for member, kind, sym in nm(path, '--defined-only'):
            if kind.isupper():
                defined.setdefault(sym, (lib, member))
        undefined[lib] = [(member, sym) for member, kind, sym in nm(path, '-u')]
    edges, up, obj_edges = {}, [], {}
    for lib, syms in undefined.items():
        for member, sym in syms:
            if sym not in defined:
                continue
            dlib, dmember = defined[sym]
            if dlib == lib:
                obj_edges.setdefault((lib, member), set()).add((lib, dmember))
                continue
            edges.setdefault(lib, set()).add(dlib)
            fa, fb = FLOORS[LIBRARIES[lib]], FLOORS[LIBRARIES[dlib]]
            if fb > fa:
                up.append('%s(%s) calls %s in %s' % (lib, member, sym, dlib))
    report(not up, 'no call between libraries runs up a floor' +
           ('' if not up else ': ' + '; '.join(sorted(set(up))[:8])))
    circle = find_circle(edges)
    report(circle is None, 'the libraries call one another in no circle' +
           ('' if circle is None else ': ' + ' -> '.join(circle)))
    groups = circles(obj_edges)
    report(not groups, 'the files of a library call one another in no circle' +
           ('' if not groups else ': ' + '; '.join(
               '%s: %s' % (g[0][0], ' <-> '.join(m for _, m in g)) for g in groups)))
    core = [sym for _, sym in undefined['libnsmsim.a'] if sym.startswith(('nsmv_', 'nsmfault_'))]
    report(not core, 'the NSM core library (libnsmsim.a) needs no nsmv_ or nsmfault_ symbol' +
           ('' if not core else ': ' + ' '.join(sorted(set(core)))))
    has_handle = any(sym == 'nsmsim_handle' and lib == 'libnsmsim.a'
                     for sym, (lib, _) in defined.items())
    report(has_handle, 'nsmsim_handle is defined in libnsmsim.a')


def code_lines(path):
    with open(path, encoding='utf-8', errors='replace') as f:
        return sum(1 for _ in f)


def check_sizes():
    sizes, total = {}, 0
    for src in tracked('*.[ch]') + tracked('*.def'):
        if src.startswith(NOT_CODE):
            continue
        top = src.split('/')[0]
        n = code_lines(src)
        sizes[top] = sizes.get(top, 0) + n
        total += n
    big = [(t, n) for t, n in sizes.items() if n * 4 > total]
    shares = ', '.join('%s %d%%' % (t, 100 * n // total)
                       for t, n in sorted(sizes.items(), key=lambda x: -x[1]))
    report(not big, 'no top-level folder holds more than a quarter of the %d lines of '
           'non-test code (%s)' % (total, shares))


def long_functions(path):
    """(name, body lines) of each function whose body runs over MAX_LINES: the project's
    style puts a function's braces alone at column 0."""
    lines = open(path, encoding='utf-8', errors='replace').read().split('\n')
    found, start, sig = [], None, 0
    for i, line in enumerate(lines):
        if line == '{' and start is None:
            j = i - 1
            while j > 0 and lines[j][:1] in (' ', '\t'):
                j -= 1
            start, sig = i, j
        elif line == '}' and start is not None:
            body = i - start - 1
            m = re.search(r'(\w+)\s*\(', lines[sig])
            if body > MAX_LINES:
                found.append((m.group(1) if m else lines[sig].strip(), body))
            start = None
    return found


def check_lengths():
    long, stale = [], set(LONG_ALLOWED)
    for src in tracked('*.c'):
        if src.startswith(('tests/', 'fuzz/')):
            continue
        for name, n in long_functions(src):
            stale.discard((src, name))
            if (src, name) not in LONG_ALLOWED:
                long.append('%s: %s (%d lines)' % (src, name, n))
    report(not long, 'no function outside tests/ and fuzz/ over %d lines' % MAX_LINES +
           ('' if not long else ': ' + '; '.join(long)))
    report(not stale, 'every allowed long function (other owners) is still long' +
           ('' if not stale else ': remove from LONG_ALLOWED: ' +
            ', '.join('%s %s' % s for s in sorted(stale))))


def self_test():
    """The checks can fail: a circle, an upward arrow and a long function are found in
    made-up inputs before the real tree is judged."""
    import tempfile
    ok = find_circle({'a': {'b'}, 'b': {'c'}, 'c': {'a'}}) is not None and \
        find_circle({'a': {'b'}, 'b': {'c'}}) is None and \
        circles({('l', 'x.o'): {('l', 'y.o')}, ('l', 'y.o'): {('l', 'x.o')}}) != [] and \
        FLOORS[folder_of('nsm-core/core.c')] < FLOORS[folder_of('faults/fault.c')] and \
        folder_of('frontends/devices/fuse.c') == 'frontends/devices'
    with tempfile.NamedTemporaryFile('w', suffix='.c', delete=False) as t:
        t.write('static int f(void)\n{\n' + '    x++;\n' * (MAX_LINES + 1) + '}\n'
                'static int g(void)\n{\n' + '    x++;\n' * MAX_LINES + '}\n')
    found = long_functions(t.name)
    os.unlink(t.name)
    ok = ok and found == [('f', MAX_LINES + 1)]
    report(ok, 'the checks find a made-up circle, upward floor and long function')


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else 'build'
    self_test()
    check_includes()
    check_libraries(build)
    check_sizes()
    check_lengths()
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
