"""Runs inside the sandbox (started by ``labkit.course.sandbox``): execute one notebook, with probes.

Standalone on purpose (only the standard library, nbformat and nbclient): it is handed into the
sandbox as a single read-only file, the rest of ``labkit.course`` is not visible there. It reads
``/in/spec.json``, copies ``/in/files/`` to the working folder, inserts a probe cell after each
check cell, executes the notebook cell by cell in the course's kernel and writes, as it goes:

* ``/out/executed.ipynb``: the executed notebook (after every cell, so a killed run leaves one);
* ``/out/status.json``: per cell, whether it raised (ename, evalue), timed out, or the kernel died;
* what the probes write (``probe-<grade_id>.json`` and ``probe-<grade_id>-<name>.npy``).

Everything it writes is untrusted data for the grader outside: read size-capped, as JSON or
``.npy`` without pickle, and compared there with answers the sandbox never sees.
"""

import json
import os
import shutil
import sys
import time

PREAMBLE = r'''
def _labkit_probe(grade_id, **values):
    """Write one check's outputs as plain data: arrays as .npy (no pickle), the rest as JSON."""
    import json as _json, os as _os
    import numpy as _np
    out, manifest = _os.environ["LABKIT_PROBE_OUT"], {}
    for name, value in values.items():
        if hasattr(value, "detach"):                      # a torch tensor
            value = value.detach().cpu().numpy()
        if hasattr(value, "asnumpy"):                     # an MXNet array
            value = value.asnumpy()
        if isinstance(value, _np.ndarray):
            if value.dtype == object:
                raise TypeError(f"{name}: an array of Python objects, not numbers")
            _np.save(_os.path.join(out, f"probe-{grade_id}-{name}.npy"), value, allow_pickle=False)
            manifest[name] = {"npy": f"probe-{grade_id}-{name}.npy"}
        else:
            manifest[name] = {"json": _json.loads(_json.dumps(value, default=_labkit_plain))}
    with open(_os.path.join(out, f"probe-{grade_id}.json"), "w") as f:
        _json.dump(manifest, f)

def _labkit_plain(value):
    import numpy as _np
    if isinstance(value, _np.generic):
        return value.item()
    if isinstance(value, _np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not plain data")

def _labkit_probe_failed(grade_id, exc):
    import json as _json, os as _os
    with open(_os.path.join(_os.environ["LABKIT_PROBE_OUT"], f"probe-{grade_id}.json"), "w") as f:
        _json.dump({"error": f"{type(exc).__name__}: {str(exc)[:300]}".strip().rstrip(":")}, f)
'''


def probe_cell(grade_id: str, code: str, seed: int, inputs: str) -> str:
    body = "\n".join("    " + line for line in (inputs + "\n" + code).splitlines())
    return (f"# labkit probe of {grade_id}: calls your code on inputs drawn for this grading run\n"
            f"PROBE_SEED = {int(seed)}\ntry:\n    import numpy as np\n{body}\n    pass\n"
            f"except BaseException as _labkit_exc:\n    _labkit_probe_failed({grade_id!r}, _labkit_exc)\n")


def main(spec_path: str) -> int:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    spec = json.load(open(spec_path))
    out, work = spec["out"], spec["workdir"]
    os.makedirs(work, exist_ok=True)
    for name in os.listdir(spec["files"]):
        src = os.path.join(spec["files"], name)
        (shutil.copytree if os.path.isdir(src) else shutil.copyfile)(src, os.path.join(work, name))
    nb = nbformat.read(spec["notebook"], as_version=4)
    cells = [nbformat.v4.new_code_cell(PREAMBLE, metadata={"labkit_probe": True})]
    for cell in nb.cells:
        cells.append(cell)
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade") and gid in spec["probes"]:
            cells.append(nbformat.v4.new_code_cell(probe_cell(gid, spec["probes"][gid], spec["seed"], spec["inputs"]),
                                                   metadata={"labkit_probe": True}))
    nb.cells = cells
    timeout = spec["cell_timeout"]
    client = NotebookClient(nb, timeout=timeout, kernel_name=spec["kernel"], allow_errors=True,
                            interrupt_on_timeout=True, resources={"metadata": {"path": work}},
                            error_on_timeout={"ename": "CellTimeoutError", "evalue": f"timeout after {timeout} s",
                                              "traceback": []})
    status = {"cells": [], "dead": None, "seconds": None}
    start = time.monotonic()

    def save():
        status["seconds"] = round(time.monotonic() - start, 1)
        for name, data in (("status.json", json.dumps(status)), ("executed.ipynb", nbformat.writes(nb))):
            with open(os.path.join(out, name + ".part"), "w") as f:
                f.write(data)
            os.replace(os.path.join(out, name + ".part"), os.path.join(out, name))

    with client.setup_kernel():
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            meta = cell.get("metadata", {})
            entry = {"index": index, "grade_id": meta.get("nbgrader", {}).get("grade_id"),
                     "probe": bool(meta.get("labkit_probe")), "error": None}
            began = time.monotonic()
            try:
                client.execute_cell(cell, index)
            except DeadKernelError as exc:
                status["dead"] = f"kernel died in cell {index}: {str(exc)[:200]}"
            errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
            if errors:
                entry["error"] = f"{errors[-1].get('ename')}: {errors[-1].get('evalue', '')}".strip().rstrip(":")[:300]
            if time.monotonic() - began >= timeout and not status["dead"]:   # interrupted (or ignored it)
                entry["error"] = f"CellTimeoutError: timeout after {timeout} s"
            status["cells"].append(entry)
            save()
            if status["dead"]:
                break
    save()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
