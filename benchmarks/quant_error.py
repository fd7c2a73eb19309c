"""Throughput of the quantization error proxy, cold (cache cleared) and cached.

Prints one line per measurement; the last line, ``formats_per_s=N``, is the CACHED figure
(what a sweep sees after the first evaluation of each format).
"""

from __future__ import annotations

import time

from models.algorithms.error_proxy import clear_cache, quant_error

FORMATS = [
    "int2",
    "int3",
    "int4",
    "int8",
    "ternary",
    "binary",
    "fp4",
    "fp6",
    "fp8_e4m3",
    "fp8_e5m2",
    "fp16",
    "bf16",
    "mxfp4",
    "mxfp6",
    "mxfp8",
    "mxint8",
    "nf4",
    "bfp12",
    "bfp16",
    "int4-g128",
    "int4-g32-zp",
]


def main() -> None:
    size = 16384
    clear_cache()
    t0 = time.perf_counter()
    for f in FORMATS:
        quant_error(f, size=size, outlier_fraction=0.01)
    cold = len(FORMATS) / (time.perf_counter() - t0)
    n_rep = 2000
    t0 = time.perf_counter()
    for _ in range(n_rep):
        for f in FORMATS:
            quant_error(f, size=size, outlier_fraction=0.01)
    cached = n_rep * len(FORMATS) / (time.perf_counter() - t0)
    print(f"cold_formats_per_s={cold:.0f} (size={size}, cache cleared)")
    print(f"formats_per_s={cached:.0f}")


if __name__ == "__main__":
    main()
