#!/usr/bin/env python3
"""Fails (exit 1) when modules of src/ import each other in a loop.

Every `crate::…` and `super::…` path in a file (use statements, `{}` groups included, and inline
paths; comments and `#[cfg(test)]` modules left out) is an edge to the file of the longest module
prefix it names. A strongly connected component of more than one file is a loop: it is printed
with its edges. `docs/architecture.md` says how the layers stack.

    python3 .ci/import-loops.py [SRC_DIR]
"""
import os
import re
import sys

SRC = sys.argv[1] if len(sys.argv) > 1 else "src"


def module_files(src):
    files = {}
    for root, _, names in os.walk(src):
        for name in names:
            if name.endswith(".rs"):
                path = os.path.join(root, name)
                parts = os.path.relpath(path, src)[:-3].split(os.sep)
                if parts[-1] == "mod":
                    parts.pop()
                if parts in (["lib"], ["main"]):
                    parts = []
                files[tuple(parts)] = path
    return files


def use_paths(tree, prefix=()):
    """`a::{b, c::{d, e}}` -> [(a, b), (a, c, d), (a, c, e)]."""
    tree = tree.strip()
    group = re.match(r"^([\w:]*?)(?:::)?\{(.*)\}$", tree, re.S)
    if not group:
        head = tree.split(" as ")[0]
        return [prefix + tuple(p for p in head.split("::") if p and p != "self")]
    head = prefix + tuple(p for p in group.group(1).split("::") if p)
    items, depth, cur = [], 0, ""
    for ch in group.group(2):
        depth += ch == "{"
        depth -= ch == "}"
        if ch == "," and depth == 0:
            items.append(cur)
            cur = ""
        else:
            cur += ch
    items.append(cur)
    return [p for item in items if item.strip() for p in use_paths(item, head)]


def edges(files):
    graph = {}
    for module, path in files.items():
        text = open(path, encoding="utf-8").read()
        text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
        text = re.sub(r"//[^\n]*", "", text)
        cut = text.find("#[cfg(test)]")
        if cut >= 0:
            text = text[:cut]
        parent = module if path.endswith("mod.rs") or path.endswith("lib.rs") else module[:-1]
        named = []
        for m in re.finditer(r"\buse\s+crate::(.*?);", text, re.S):
            named += use_paths(m.group(1))
        for m in re.finditer(r"\buse\s+super::(.*?);", text, re.S):
            named += [parent[:-1] + p if path.endswith("mod.rs") else parent + p
                      for p in use_paths(m.group(1))]
        named += [tuple(m.group(1).split("::")) for m in re.finditer(r"\bcrate::((?:\w+::)*\w+)", text)]
        sup = parent[:-1] if path.endswith("mod.rs") else parent
        named += [sup + tuple(m.group(1).split("::")) for m in re.finditer(r"\bsuper::((?:\w+::)*\w+)", text)]
        targets = set()
        for p in named:
            for n in range(len(p), 0, -1):
                if p[:n] in files:
                    if files[p[:n]] != path:
                        targets.add(files[p[:n]])
                    break
        graph[path] = targets
    return graph


def loops(graph):
    """Tarjan's strongly connected components with more than one file."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
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

    sys.setrecursionlimit(10_000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


graph = edges(module_files(SRC))
found = loops(graph)
for comp in found:
    print(f"import loop of {len(comp)} files:")
    for f in comp:
        inside = sorted(t for t in graph[f] if t in comp)
        print(f"  {os.path.relpath(f, SRC)} -> {', '.join(os.path.relpath(t, SRC) for t in inside)}")
print(f"{len(found)} import loop(s) among {len(graph)} files")
sys.exit(1 if found else 0)
