"""Lay out what the browser test opens, under build/browser/lab/ (git-ignored): a copy of lesson 01,
a released exercise, and a probe notebook (progress bars, a plain TensorFlow import, record, a labkit error).

Usage: python tests/browser/prepare.py RELEASE_DIR   (RELEASE_DIR: nbgrader's release/, from `make student`)
"""

import json
import shutil
import sys
from pathlib import Path

import nbformat

from labkit import kernel

ROOT = Path(__file__).resolve().parents[2]
LAB = ROOT / "build" / "browser" / "lab"

PROBE = [
    "import time\nimport labkit\nfrom labkit import record\nfrom labkit.frameworks import progress",
    # a training cell as labkit.gluon.train writes it: a bar per epoch, a printed line per epoch, two runs
    "for run in (1, 2):\n    for epoch in range(1, 31):\n"
    "        bar = progress(range(20), total=20, desc=f\"run {run} epoch {epoch}/30\")\n"
    "        for i in bar:\n            time.sleep(0.002)\n"
    "            bar.set_postfix_str(f\"loss {1 / (i + 1):.4f}\", refresh=False)\n"
    "        print(f\"run {run} epoch {epoch:2d}  loss 0.1234\")",
    "import tensorflow as tf\nprint(\"TensorFlow\", tf.__version__)",
    "print(f\"num of users: {943:,}\")\nrecord(\"users\", 943)\nrecord(\"chosen_epochs\", 5)",
    "labkit.data.fetch(\"ml-1m\", allow_download=False)",
]


def main(release: Path) -> None:
    shutil.rmtree(LAB, ignore_errors=True)
    LAB.mkdir(parents=True)
    shutil.copy(ROOT / "notebooks" / "01_data_preparation.ipynb", LAB)
    exercise = release / "01_leave_last_out" / "01_leave_last_out.ipynb"
    (LAB / "release" / "01_leave_last_out").mkdir(parents=True)
    shutil.copy(exercise, LAB / "release" / "01_leave_last_out")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in PROBE]
    for i, cell in enumerate(nb.cells):
        cell.id = f"probe{i}"
    nb.metadata = {"kernelspec": kernel.KERNELSPEC, "language_info": kernel.LANGUAGE_INFO}
    (LAB / "probe.ipynb").write_text(json.dumps(nb, indent=1) + "\n")
    print(f"prepared {LAB}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
