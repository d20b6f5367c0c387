#!/usr/bin/env python3
"""flamegraph.py: renders folded stacks ("root;...;leaf value" a line, as arcalloc's heap
profiler writes them) as a standalone SVG flame graph: one box per frame, its width the bytes
below it, roots at the bottom, a tooltip on every box. Standard library only; reads one file,
writes one file, nothing else.

  tools/flamegraph.py arcalloc-prof.1234.folded docs/flamegraph.svg [--title TEXT]
"""
import argparse
import hashlib
import html
import sys

WIDTH = 1200  # SVG width in pixels
FRAME_HEIGHT = 17  # one stack level
PAD_TOP = 52  # title and subtitle
PAD_SIDE = 10
PAD_BOTTOM = 12
FONT_SIZE = 11
CHAR_WIDTH = 0.59 * FONT_SIZE  # average glyph width of the monospace font, for label fitting
MIN_BOX = 0.3  # boxes narrower than this many pixels are left out (and their subtrees)


class Node:
    __slots__ = ("name", "value", "children")

    def __init__(self, name):
        self.name, self.value, self.children = name, 0, {}

    def child(self, name):
        if name not in self.children:
            self.children[name] = Node(name)
        return self.children[name]


def read_folded(path):
    root, bad = Node("all"), 0
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            stack, _, value = line.rpartition(" ")
            if not stack or not value.isdigit():
                bad += bool(line)
                continue
            node = root
            node.value += int(value)
            for frame in stack.split(";"):
                node = node.child(frame)
                node.value += int(value)
    if bad:
        print("flamegraph.py: %d malformed lines skipped" % bad, file=sys.stderr)
    return root


def colour(name):
    """A stable colour per frame name: greens and teals (memory, not time). Frames without a
    symbol ("lib+0x...") are greyer, so the named ones stand out."""
    h = hashlib.md5(name.encode()).digest()
    a, b = h[0] / 255, h[1] / 255
    if "+0x" in name:
        return "rgb(%d,%d,%d)" % (150 + 40 * a, 170 + 40 * a, 160 + 40 * b)
    return "rgb(%d,%d,%d)" % (40 + 70 * a, 150 + 80 * b, 90 + 90 * a)


def human(n):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return ("%d %s" % (n, unit)) if unit == "B" else ("%.1f %s" % (n, unit))
        n /= 1024
    return str(n)


def layout(root):
    """(depth, x, width, node) of every box worth drawing, x and width in pixels."""
    scale = (WIDTH - 2 * PAD_SIDE) / root.value if root.value else 0
    boxes, stack = [], [(root, 0, PAD_SIDE)]
    while stack:
        node, depth, x = stack.pop()
        w = node.value * scale
        if w < MIN_BOX:
            continue
        boxes.append((depth, x, w, node))
        for name in sorted(node.children):  # alphabetical, so equal frames line up
            child = node.children[name]
            stack.append((child, depth + 1, x))
            x += child.value * scale
    return boxes


def render(root, title, subtitle):
    boxes = layout(root)
    depth = max((d for d, _, _, _ in boxes), default=0) + 1
    height = PAD_TOP + depth * FRAME_HEIGHT + PAD_BOTTOM
    out = [
        '<?xml version="1.0" standalone="no"?>',
        '<svg version="1.1" width="%d" height="%d" viewBox="0 0 %d %d" '
        'xmlns="http://www.w3.org/2000/svg">' % (WIDTH, height, WIDTH, height),
        '<rect x="0" y="0" width="100%" height="100%" fill="#f8fbf8"/>',
        '<style>text { font-family: monospace; font-size: %dpx; fill: #102010 } '
        '.t { font-size: 16px; text-anchor: middle } .s { fill: #506050; text-anchor: middle } '
        'rect.f:hover { stroke: #000; stroke-width: 0.5 }</style>' % FONT_SIZE,
        '<text class="t" x="%d" y="22">%s</text>' % (WIDTH // 2, html.escape(title)),
        '<text class="s" x="%d" y="40">%s</text>' % (WIDTH // 2, html.escape(subtitle)),
    ]
    total = root.value or 1
    for d, x, w, node in boxes:
        y = height - PAD_BOTTOM - (d + 1) * FRAME_HEIGHT
        tip = "%s: %s (%.2f%%)" % (node.name, human(node.value), 100.0 * node.value / total)
        out.append('<g><title>%s</title><rect class="f" x="%.2f" y="%d" width="%.2f" '
                   'height="%d" rx="2" fill="%s"/>'
                   % (html.escape(tip), x, y, w, FRAME_HEIGHT - 1,
                      "#c8d8c8" if d == 0 else colour(node.name)))
        fits = int((w - 6) / CHAR_WIDTH)
        if fits >= 3:
            label = node.name if len(node.name) <= fits else node.name[:fits - 2] + ".."
            out.append('<text x="%.2f" y="%d">%s</text>'
                       % (x + 3, y + FRAME_HEIGHT - 5, html.escape(label)))
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folded")
    ap.add_argument("svg")
    ap.add_argument("--title", default="Live heap by allocation stack")
    a = ap.parse_args()
    root = read_folded(a.folded)
    subtitle = "%s live (estimated from samples) in %s; box width = bytes allocated below it" % (
        human(root.value), a.folded.rsplit("/", 1)[-1])
    with open(a.svg, "w") as f:
        f.write(render(root, a.title, subtitle))
    return 0


if __name__ == "__main__":
    sys.exit(main())
