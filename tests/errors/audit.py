#!/usr/bin/env python3
"""Every error the scenario loader can produce has a golden (tests/errors/*.err, commands/*.err).

Lists each error site of the loading path's sources (detail::fail, fail, throw input_error /
std:: exceptions) and takes the longest fixed piece of its message (string literals joined,
split at fmt's {} fields). A site is covered when that piece occurs in some golden .err file.
Any other site is listed in audit_exempt.txt as "<file>: <piece, or the call's text> -- <why>":
  golden CASE   its message is built elsewhere (no fixed piece); tests/errors/CASE.err shows it
  relays ...    it re-raises another error at a location; the message is made (and tested)
                where it is raised
  TODO ...      no golden yet (counted as missing, listed in the summary)
Fails on a site neither covered nor listed, on a listed golden that does not exist, and on a
golden or relays line that matches no uncovered site (so the list stays true); a TODO line that
matches none is reported for removal.

  audit.py SOURCE_ROOT [--list]   (--list prints every site and its golden)
"""
import pathlib
import re
import sys

# The loading path: document, schema, sections, strategies, feasibility of the layout.
SOURCES = [
    "sim/io/doc.cpp", "sim/io/schema.cpp", "sim/io/schema.hpp", "sim/io/units.cpp",
    "sim/io/overrides.cpp", "sim/io/presets.cpp", "sim/io/scenario_loader.cpp",
    "sim/io/strategy_errors.cpp", "sim/io/topo_schemas.cpp", "sim/io/spec_schemas.cpp",
    "sim/io/spec_loader.cpp", "sim/io/serve_schema.cpp", "sim/io/speculative_schema.cpp",
    "sim/io/fault_schema.cpp", "sim/io/offload_schema.cpp", "sim/io/placement_schema.cpp",
    "sim/run/feasibility.cpp", "sim/run/batch.cpp",
]
SITE = re.compile(r"(?:detail::fail|\bfail|throw\s+(?:input_error|infeasible_error|"
                  r"std::invalid_argument|std::runtime_error))\s*\(")
LITERAL = re.compile(r'"((?:[^"\\]|\\.)*)"')
PIECE_MIN = 8


def call_text(text, start):
    """The argument text of the call whose '(' ends at `start`, up to its matching ')'."""
    depth, i, in_str = 1, start, False
    while i < len(text) and depth:
        c = text[i]
        if in_str:
            if c == "\\":
                i += 1
            elif c == '"':
                in_str = False
        elif c == '"':
            in_str = True
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        i += 1
    return text[start:i - 1]


def piece_of(args):
    """Longest fixed piece of the message: adjacent literals joined, split at {} fields."""
    joined = re.sub(r'"\s*\n\s*"', "", args)  # "a" "b" across lines
    joined = re.sub(r'"\s+"', "", joined)
    pieces = []
    for lit in LITERAL.findall(joined):
        lit = lit.replace('\\"', '"').replace("\\n", "\n")
        pieces += [p.strip() for p in re.split(r"\{[^{}]*\}", lit)]
    pieces = [p for p in pieces if len(p) >= PIECE_MIN]
    return max(pieces, key=len) if pieces else ""


def sites(root):
    for rel in SOURCES:
        text = (root / rel).read_text()
        for m in SITE.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            prefix = text[text.rfind("\n", 0, m.start()) + 1:m.start()]
            if prefix.lstrip().startswith("//") or "void fail(" in text[m.start() - 20:m.end()]:
                continue
            if re.search(r"(void|\bstd::string)\s+$", prefix):  # a definition, not a call
                continue
            args = call_text(text, m.end())
            yield rel, line, piece_of(args), " ".join(args.split())[:90]


def main():
    root = pathlib.Path(sys.argv[1])
    listing = "--list" in sys.argv
    errs = root / "tests" / "errors"
    goldens = {p.relative_to(errs).as_posix(): p.read_text()
               for p in list(errs.glob("*.err")) + list(errs.glob("commands/*.err"))}
    exempt = {}
    for raw in (errs / "audit_exempt.txt").read_text().splitlines():
        if raw.strip() and not raw.startswith("#"):
            key, _, reason = raw.partition(" -- ")
            exempt[key.strip()] = reason.strip()
    used, missing, todo, relays, covered = set(), [], [], 0, 0
    bad = []
    for rel, line, piece, text in sites(root):
        hits = sorted(g for g, t in goldens.items() if piece and piece in t)
        shown = piece or text
        key = f"{rel}: {shown}"
        where = f"{rel}:{line}: {shown!r}"
        if hits:
            covered += 1
            if listing:
                print(f"{where} -> {hits[0]}")
            continue
        if key not in exempt:
            missing.append(f"{where}: no golden shows it and audit_exempt.txt does not list it")
            continue
        used.add(key)
        reason = exempt[key]
        if reason.startswith("golden "):
            case = reason.split()[1]
            if f"{case}.err" not in goldens:
                bad.append(f"{where}: listed golden {case} does not exist")
            covered += 1
        elif reason.startswith("TODO"):
            todo.append(where)
        else:
            relays += 1
        if listing:
            print(f"{where} -> {reason}")
    # A TODO that matches nothing was done (a golden now shows it): said, not failed, so a
    # branch adding that golden merges green; any other stale line fails.
    stale = [k for k in exempt if k not in used and not exempt[k].startswith("TODO")]
    done = [k for k in exempt if k not in used and exempt[k].startswith("TODO")]
    for m in missing + bad:
        print(m)
    for k in stale:
        print(f"audit_exempt.txt: '{k}' matches no uncovered error site")
    for k in done:
        print(f"audit_exempt.txt: TODO '{k}' is covered or gone now: remove the line")
    for t in todo:
        print(f"TODO (no golden yet): {t}")
    total = covered + relays + len(todo) + len(missing)
    print(f"{total} error sites: {covered} shown by a golden, {relays} relay others' messages, "
          f"{len(todo)} without a golden (TODO), {len(missing)} unlisted")
    return 1 if missing or stale or bad else 0

if __name__ == "__main__":
    sys.exit(main())
