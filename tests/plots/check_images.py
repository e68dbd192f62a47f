"""Checks that each PNG named on the command line is a real figure: the PNG signature, more
than 10 KB, and more than 8 distinct colours (not blank). Exit 1 naming the first failure."""

import sys

import matplotlib.image
import numpy

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MIN_BYTES = 10_000
MIN_COLOURS = 8


def problem(path):
    """What is wrong with the image at path, or None."""
    with open(path, "rb") as f:
        data = f.read()
    if not data.startswith(PNG_SIGNATURE):
        return "not a PNG"
    if len(data) < MIN_BYTES:
        return f"{len(data)} bytes (< {MIN_BYTES})"
    pixels = matplotlib.image.imread(path)
    # Floats in [0, 1] per channel -> one integer per pixel (8 bits a channel).
    channels = numpy.rint(pixels.reshape(-1, pixels.shape[-1]) * 255).astype(numpy.int64)
    packed = numpy.zeros(len(channels), dtype=numpy.int64)
    for c in range(channels.shape[1]):
        packed = packed * 256 + channels[:, c]
    colours = len(numpy.unique(packed))
    if colours <= MIN_COLOURS:
        return f"{colours} colours (blank?)"
    return None


def main(paths):
    for path in paths:
        what = problem(path)
        if what:
            print(f"{path}: {what}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
