"""Derive Rasa 3.6.21's install list for Python 3.11 from its wheel metadata.

Rasa 3.6 declares Python <3.11, so its markers select nothing for numpy, scipy,
dask... on 3.11. We evaluate them as if on 3.10 and then apply the pins known to
have 3.11 wheels. Used only to regenerate requirements/rasa.lock.
"""
from __future__ import annotations

import sys
import zipfile

from packaging.requirements import Requirement

PINS = {
    "matplotlib": "matplotlib==3.6.3",
    "numpy": "numpy==1.23.5",
    "scipy": "scipy==1.10.1",
    "scikit-learn": "scikit-learn==1.1.3",
    "dask": "dask==2022.10.2",
}
EXTRA = ["contourpy==1.2.1"]
ENV = {"python_version": "3.10", "python_full_version": "3.10.13", "sys_platform": "linux",
       "platform_machine": "x86_64", "platform_python_implementation": "CPython", "extra": ""}


def main(wheel: str) -> None:
    with zipfile.ZipFile(wheel) as zf:
        meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        lines = zf.read(meta).decode().splitlines()
    out: list[str] = []
    for line in lines:
        if not line.startswith("Requires-Dist:"):
            continue
        req = Requirement(line.split(":", 1)[1].strip())
        if req.marker is not None and not req.marker.evaluate(ENV):
            continue
        name = req.name.lower()
        if name in PINS:
            out.append(PINS[name])
            continue
        req.marker = None
        out.append(str(req))
    out += EXTRA
    print("\n".join(dict.fromkeys(out)))


if __name__ == "__main__":
    main(sys.argv[1])
