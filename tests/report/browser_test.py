#!/usr/bin/env python3
"""The HTML report (`moesim report`) opened in headless Chromium (ctest "report: browser").

Builds a report from shipped scenarios cut to run in seconds (quickstart with its trace, a
serving comparison, a speculative-decoding grid and the first points of the capacity sweep),
builds it twice (the bytes must match), then opens it in Chromium and checks that
  - the DOM holds the expected sections, tables and SVG charts,
  - the screenshot is not blank (more than one colour),
  - the browser logged no console message (the page has no scripts: any message is an error).
A self-check first proves the checks can fail: a page with a script error must be caught, and
a one-colour PNG must be called blank.

usage: browser_test.py MOESIM REPO_ROOT OUT_DIR [--screenshot FILE --size WxH]
Exit 0 pass, 1 fail, 77 skip (no chromium; tools/setup.sh installs it).
"""
import os
import re
import shutil
import struct
import subprocess
import sys
import zlib


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kw)
    if r.returncode != 0:
        fail(f"{' '.join(cmd)} exited {r.returncode}:\n{r.stdout}\n{r.stderr}")
    return r


def png_colours(path, limit=2):
    """Distinct RGB(A) pixel values of an 8-bit PNG (non-interlaced), up to `limit`."""
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        fail(f"{path}: not a PNG")
    pos, idat, ihdr = 8, b"", None
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    w, h, depth, ctype, _, _, interlace = ihdr
    if depth != 8 or ctype not in (2, 6) or interlace:
        fail(f"{path}: unsupported PNG (depth {depth}, colour type {ctype})")
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(idat)
    stride = w * bpp
    prev = bytearray(stride)
    colours = set()
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 255
        for i in range(0, stride, bpp):
            colours.add(bytes(line[i:i + bpp]))
            if len(colours) >= limit:
                return colours
        prev = line
    return colours


def write_png(path, w, h, rgb):
    """A one-colour PNG, for the self-check."""
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(
            ">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    raw = b"".join(b"\x00" + bytes(rgb) * w for _ in range(h))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def chromium(browser, page, out_dir, *args):
    """Runs headless Chromium on `page`; returns (stdout, console lines from its log)."""
    cmd = [browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           "--no-first-run", "--disable-dev-shm-usage", "--enable-logging=stderr", "--v=0",
           f"--user-data-dir={os.path.join(out_dir, 'profile')}", *args,
           "file://" + os.path.abspath(page)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        fail(f"chromium exited {r.returncode}:\n{r.stderr[-3000:]}")
    console = [l for l in r.stderr.splitlines() if re.search(r"CONSOLE|Uncaught", l)]
    return r.stdout, console


def main():
    argv = sys.argv[1:]
    shot_file, size = None, "1100,1600"
    if "--screenshot" in argv:
        i = argv.index("--screenshot")
        shot_file = argv[i + 1]
        del argv[i:i + 2]
    if "--size" in argv:
        i = argv.index("--size")
        size = argv[i + 1].replace("x", ",")
        del argv[i:i + 2]
    moesim, root, out = argv
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if not browser:
        print("SKIP: chromium is not installed (tools/setup.sh installs it)")
        sys.exit(77)
    os.makedirs(out, exist_ok=True)

    # Self-check: the checks below must be able to fail.
    bad = os.path.join(out, "bad.html")
    with open(bad, "w") as f:
        f.write("<!DOCTYPE html><html><body><p>x</p><script>no_such_function();</script>"
                "</body></html>\n")
    _, console = chromium(browser, bad, out, "--dump-dom")
    if not console:
        fail("self-check: a page with a script error logged no console message")
    blank = os.path.join(out, "blank.png")
    write_png(blank, 16, 8, (255, 255, 255))
    if len(png_colours(blank)) != 1:
        fail("self-check: a one-colour PNG was not called blank")

    # The inputs: shipped scenarios, cut to seconds.
    def o(name):
        return os.path.join(out, name)
    run([moesim, "run", "scenarios/quickstart.yaml", "--quiet", "--metrics", o("quick.json"),
         "--trace", o("quick.trace.json"), "--layer-loads"], cwd=root)
    run([moesim, "run", "scenarios/serve-mixtral-h100.yaml", "--quiet", "--metrics",
         o("serve.json"), "--set", "workload.serve.duration_s=1"], cwd=root)
    run([moesim, "run", "scenarios/spec-decode-mixtral.yaml", "--quiet", "--metrics",
         o("spec.json"), "--set", "workload.serve.duration_s=1",
         "--set", "workload.serve.speculative.batch_sizes=[1,16,64]",
         "--set", "workload.serve.speculative.draft_lengths=[1,3]"], cwd=root)
    run([moesim, "sweep", "scenarios/sweep-capacity.yaml", "--quiet", "--limit", "9",
         "--out", o("sweep")], cwd=root)
    inputs = [o(n) for n in ("quick.json", "serve.json", "spec.json", "sweep.json",
                             "quick.trace.json")]
    run([moesim, "report", *inputs, "-o", o("report.html")])
    run([moesim, "report", *inputs, "-o", o("again.html")])
    if open(o("report.html"), "rb").read() != open(o("again.html"), "rb").read():
        fail("two reports of the same files differ")

    dom, console = chromium(browser, o("report.html"), out, "--dump-dom")
    if console:
        fail("console messages:\n" + "\n".join(console))
    want = {
        "sections": (r"<section id=\"input-\d+\"", 5),
        "SVG charts": (r"<svg [^>]*class=\"chart\"", 15),
        "strategy tables": (r"<table class=\"strategies\"", 3),
        "the sweep's table": (r"<table class=\"sweep\"", 1),
        "stacked bars": (r"<g class=\"bar\"", 5),
        "series": (r"<g class=\"series\"", 8),
        "approximations": (r"<ul class=\"approximations\"", 3),
        "Perfetto": (r"ui\.perfetto\.dev", 1),
    }
    for what, (pattern, least) in want.items():
        n = len(re.findall(pattern, dom))
        if n < least:
            fail(f"the rendered DOM has {n} {what}, expected at least {least}")
    shot = o("report.png")
    chromium(browser, o("report.html"), out, f"--window-size={size}", f"--screenshot={shot}")
    if len(png_colours(shot)) < 2:
        fail("the screenshot is blank (one colour)")
    if shot_file:
        shutil.copyfile(shot, shot_file)
    print(f"report: {len(dom)} bytes of DOM, {len(re.findall(want['SVG charts'][0], dom))} "
          "charts, no console messages, screenshot not blank")


if __name__ == "__main__":
    main()
