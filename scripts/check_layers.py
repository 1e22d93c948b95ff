#!/usr/bin/env python3
"""make lint: no import circle among a crate's top-level modules.

Reads every `crate::…` path (and a top-level file's `super::…`) in each crate's src/, maps it to
the top-level module it names, and fails on any cycle among those modules (a strongly connected
component of more than one, or a module reaching itself through others). The crate root
(lib.rs / main.rs) sits above every module and is not a node.

Usage: check_layers.py CRATE_SRC_DIR...   (e.g. report/src server/src)
"""
import pathlib
import re
import sys

ROOTS = {"lib.rs", "main.rs"}


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return "\n".join(line.split("//", 1)[0] for line in text.splitlines())


def module_of(src, path):
    """The top-level module a file belongs to (None for the crate root)."""
    rel = path.relative_to(src)
    if len(rel.parts) == 1:
        return None if rel.name in ROOTS else rel.stem
    return rel.parts[0]


def crate_paths(code):
    """Top-level names after `crate::`, including each `crate::{a, b::c}` group's heads."""
    names = []
    for m in re.finditer(r"\bcrate::(\{|\w+)", code):
        if m.group(1) != "{":
            names.append(m.group(1))
            continue
        depth, i, start = 1, m.end(), True
        while i < len(code) and depth:
            ch = code[i]
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            elif ch == "," and depth == 1:
                start = True
            elif start and depth == 1 and (ch.isalnum() or ch == "_"):
                word = re.match(r"\w+", code[i:]).group(0)
                names.append(word)
                i += len(word)
                start = False
                continue
            i += 1
    return names


def graph(src):
    modules = {module_of(src, p) for p in src.rglob("*.rs")} - {None}
    edges = {m: set() for m in modules}
    for path in src.rglob("*.rs"):
        me = module_of(src, path)
        if me is None:
            continue
        code = strip_comments(path.read_text())
        names = crate_paths(code)
        if len(path.relative_to(src).parts) == 1 and path.name != "mod.rs":
            names += re.findall(r"\bsuper::(\w+)", code)
        for n in names:
            if n in modules and n != me:
                edges[me].add(n)
    return edges


def cycles(edges):
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def main(dirs):
    if not dirs:
        sys.exit("usage: check_layers.py CRATE_SRC_DIR...")
    failed = False
    for d in dirs:
        src = pathlib.Path(d)
        if not src.is_dir():
            sys.exit(f"check_layers: {d} is not a directory")
        edges = graph(src)
        found = cycles(edges)
        for comp in found:
            failed = True
            inner = [f"{a} → {b}" for a in comp for b in sorted(edges[a]) if b in comp]
            print(f"{d}: import circle among {', '.join(comp)}: " + "; ".join(inner))
        if not found:
            print(f"{d}: {len(edges)} top-level modules, no import circle")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main(sys.argv[1:])
