#!/usr/bin/env python3
"""test_report_chromium.py: `arcalloc run`'s HTML report opened the way a person opens it, in a
browser: Debian's chromium, headless, with no network. Makes a report (python3 holding a 32 MiB
bytearray), then loads report.html#selftest, whose script hovers and clicks the flame graph's
widest box and records what it did on <body>. Checks in the DOM chromium dumps: the script ran to
its end with no error (data-rendered, no data-error, no uncaught error on chromium's console), the
chart's three series, the flame graph's boxes, the hover's bytes and the click's zoom. Keeps a
screenshot (report.png in the build folder) as a build artifact.

Fails, naming the package, when chromium is not installed. Ends with "N passed, M failed".
Standard library only."""
import argparse
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from pycheck import check, clean_env, done  # noqa: E402

MIB = 1 << 20
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
PROGRAM = "import time; time.sleep(0.2); b = bytearray(%d); time.sleep(0.5)" % (32 * MIB)
BROWSER_TIMEOUT = 150  # seconds: chromium's first start on a loaded machine is slow
WINDOW = "1100,1800"  # the screenshot: the summary, the chart and the flame graph
# No network, no GPU, no sandbox (tests run as root in CI), no first-run chatter.
CHROMIUM_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-extensions", "--disable-background-networking",
                  "--proxy-server=127.0.0.1:9", "--hide-scrollbars", "--enable-logging=stderr",
                  "--v=0"]



def browser():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def chromium(exe, args, profile):
    return subprocess.run([exe] + CHROMIUM_FLAGS + ["--user-data-dir=" + profile] + args,
                          capture_output=True, text=True, timeout=BROWSER_TIMEOUT)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arcalloc", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--screenshot", required=True)
    a = ap.parse_args()
    exe = browser()
    if not exe:
        check(False, "chromium is not installed: apt-get install chromium (tests/run and "
              ".ci/run install it)")
        return done()
    shutil.rmtree(a.workdir, ignore_errors=True)
    os.makedirs(a.workdir)
    out = os.path.join(a.workdir, "run")
    env = clean_env()
    p = subprocess.run([a.arcalloc, "run", "-o", out, "--", PYTHON, "-c", PROGRAM], env=env,
                       capture_output=True, text=True, timeout=BROWSER_TIMEOUT)
    report = os.path.join(out, "report.html")
    if not check(p.returncode == 0 and os.path.exists(report), "report made: %r" % p.stderr):
        done()
        return 1
    with open(report) as f:
        has_flame = '"flames":[{' in f.read()
    url = "file://" + report + "#selftest"
    profile = os.path.join(a.workdir, "chromium-profile")

    d = chromium(exe, ["--dump-dom", url], profile)
    body = re.search(r"<body([^>]*)>", d.stdout)
    attrs = dict(re.findall(r'(data-[a-z-]+)="([^"]*)"', body.group(1))) if body else {}
    check(d.returncode == 0 and attrs.get("data-rendered") == "1",
          "the page's script ran to its end: %r %r" % (attrs, d.stderr[-400:]))
    check("data-error" not in attrs, "no script error: %r" % attrs.get("data-error"))
    console = [l for l in d.stderr.splitlines() if "CONSOLE" in l]
    check(not [l for l in console if re.search(r"Uncaught|Error", l)],
          "no error on the console: %s" % console[:3])
    check(attrs.get("data-chart-series") == "3", "the chart's three series: %r"
          % attrs.get("data-chart-series"))
    check(d.stdout.count('class="peak"') == 3, "the chart's peaks marked")
    if has_flame:
        check(int(attrs.get("data-flame-boxes", "0")) > 1, "flame graph boxes drawn: %r"
              % attrs.get("data-flame-boxes"))
        check(re.search(r"\d (B|KiB|MiB)", attrs.get("data-tip", "")) is not None,
              "hovering a box shows its bytes: %r" % attrs.get("data-tip"))
        check("zoomed into" in attrs.get("data-zoom-caption", ""),
              "clicking a box zooms into it: %r" % attrs.get("data-zoom-caption"))
    else:
        print("no heap profile in this build (no libunwind): flame graph checks left out")

    s = chromium(exe, ["--window-size=" + WINDOW, "--screenshot=" + a.screenshot,
                       "file://" + report], profile)
    check(s.returncode == 0 and os.path.exists(a.screenshot)
          and os.path.getsize(a.screenshot) > 0, "screenshot kept: %s" % a.screenshot)
    return done()


if __name__ == "__main__":
    sys.exit(main())
