"""Static review of a submission before grading: find student code that tampers with the checks.

nbgrader restores the instructor's locked and check cells, but the student's own cells (solution
cells and cells the student added) run in the same kernel, before the checks. One line there can
make every check pass: an IPython exception handler that swallows the AssertionError, an input
transformer that blanks the check cells, ``np.allclose = lambda *a, **k: True``, rebinding a name
a check reads. ``review`` parses those cells with ``ast`` (magics first turned into Python by
IPython) and returns one line per finding, quoting the cell and the line. The grader withholds the
points of a notebook with findings until an instructor clears it.

What is flagged in the student's cells:

* IPython's machinery: ``set_custom_exc``, input transformers, AST transformers, ``events.register``,
  traceback/display hooks, any other use of ``get_ipython()`` than the usual magics;
* assignments to attributes or items of imported modules (``np.allclose = ...``,
  ``np.testing.assert_allclose = ...``, ``builtins.len = ...``, ``__builtins__``) and of objects the
  instructor's cells use, ``setattr``/``delattr`` on them, in-place methods (``popularity.update``);
* rebinding, at module level or through ``global``, a name that an instructor cell reads from
  earlier cells: a module alias (``np = ...``), a helper (``validation_scores = ...``), a builtin
  (``all = ...``), a value (``popularity = ...``); re-importing the same module is fine;
* ``exec``, ``eval``, ``compile``, ``__import__``, ``globals()``, frame and ``__dict__`` access,
  ``ctypes``.

It is a review aid, not a sandbox: code can always find ways the rules do not name. An
instructor reads the quoted lines and clears honest notebooks.
"""

from __future__ import annotations

import ast
import re

HIDDEN = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS\s*?\n.*?^[ \t]*### END HIDDEN TESTS[ \t]*\n?", re.M | re.S)
HOOKS = {"set_custom_exc", "input_transformers_cleanup", "input_transformers_post", "ast_transformers",
         "input_transformer_manager", "showtraceback", "_showtraceback", "showsyntaxerror", "custom_exceptions",
         "CustomTB", "InteractiveTB", "SyntaxTB", "excepthook", "displayhook", "settrace", "setprofile",
         "addaudithook", "register_magic_function", "register_magics", "run_cell", "run_cell_async",
         "push", "user_ns", "user_global_ns"}
INTROSPECTION = {"__dict__", "__globals__", "__code__", "__builtins__", "__closure__", "__defaults__",
                 "__kwdefaults__", "__subclasses__", "f_globals", "f_locals", "f_back", "f_builtins", "tb_frame",
                 "gi_frame", "cr_frame", "_getframe", "currentframe", "get_referrers", "get_objects"}
DYNAMIC = {"exec", "eval", "compile", "__import__", "globals"}
MUTATORS = {"update", "clear", "pop", "popitem", "setdefault", "append", "extend", "insert", "remove", "add",
            "discard", "fill", "sort", "put", "itemset", "resize", "setflags", "__setitem__", "__setattr__",
            "__delitem__", "__delattr__"}
MAGICS_OK = {"time", "timeit", "matplotlib", "capture", "prun", "pip", "who", "whos", "pwd", "ls", "history",
             "precision", "debug"}
SHELL_OK = {"run_line_magic", "run_cell_magic", "system", "getoutput"}
FORBIDDEN_IMPORTS = {"ctypes"}
NESTED = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef,
          ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def nbgrader_meta(cell) -> dict:
    """Return a cell's nbgrader metadata ({} when it has none).

    >>> nbgrader_meta({"metadata": {"nbgrader": {"locked": True}}})
    {'locked': True}
    """
    return cell.get("metadata", {}).get("nbgrader", {})


def python_source(source: str) -> str:
    """Return a cell's source as plain Python, IPython magics and ``!`` commands made calls.

    >>> python_source("%time x = 1")
    "get_ipython().run_line_magic('time', 'x = 1')\\n"
    """
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:   # no IPython: plain Python cells still parse
        return source
    return TransformerManager().transform_cell(source)


def _parse(source: str):
    try:
        return ast.parse(python_source(source))
    except SyntaxError:
        return None


def _root(node):
    """The Name at the root of ``a.b[c].d(...)``, or None."""
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call, ast.Starred)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _stored_names(target) -> list[str]:
    return [n.id for n in ast.walk(target) if isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del))]


def _import_bindings(node) -> dict[str, str]:
    """``{bound name: what it refers to}`` for an Import/ImportFrom node."""
    out = {}
    for alias in node.names:
        if isinstance(node, ast.Import):
            out[alias.asname or alias.name.split(".")[0]] = alias.name if alias.asname else alias.name.split(".")[0]
        else:
            out[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return out


def _scope_refs(node) -> set[str]:
    """Global names a nested scope (function, lambda, class, comprehension) reads when it runs."""
    local, declared_global, loads = set(), set(), set()
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        local |= {a.arg for a in ast.walk(node.args) if isinstance(a, ast.arg)}
        body = node.body if isinstance(node.body, list) else [node.body]
    elif isinstance(node, ast.ClassDef):
        body = node.body
    else:   # comprehension: the first iterable belongs to the enclosing scope; close enough to include it
        body = [node.elt] if not isinstance(node, ast.DictComp) else [node.key, node.value]
        body += node.generators
    stack = list(body)
    while stack:
        n = stack.pop()
        if isinstance(n, NESTED):
            loads |= _scope_refs(n)
            if hasattr(n, "name"):
                local.add(n.name)
            continue
        if isinstance(n, ast.Global):
            declared_global |= set(n.names)
        elif isinstance(n, ast.Name):
            (loads if isinstance(n.ctx, ast.Load) else local).add(n.id)
        elif isinstance(n, (ast.Import, ast.ImportFrom)):
            local |= set(_import_bindings(n))
        stack.extend(ast.iter_child_nodes(n))
    return loads - (local - declared_global)


def _module_loads_and_stores(stmt) -> tuple[set, set]:
    """Module-level names a simple statement reads (with its nested scopes' global reads) and binds."""
    loads, stores = set(), set()
    stack = [stmt]
    while stack:
        n = stack.pop()
        if n is not stmt and isinstance(n, NESTED):
            loads |= _scope_refs(n)
            if hasattr(n, "name"):
                stores.add(n.name)
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                stack.extend(n.decorator_list + getattr(n, "bases", []))
            continue
        if isinstance(n, ast.Name):
            (loads if isinstance(n.ctx, ast.Load) else stores).add(n.id)
        elif isinstance(n, (ast.Import, ast.ImportFrom)):
            stores |= set(_import_bindings(n))
        stack.extend(ast.iter_child_nodes(n))
    return loads, stores


def free_names(tree) -> set[str]:
    """Names a cell reads before binding them itself: what it takes from earlier cells (or builtins).

    Statements are taken in order; a function's body counts as reading its global names.

    >>> sorted(free_names(ast.parse("x = f(toy)\\ny = x + 1\\ndef g(): return z + y")))
    ['f', 'toy', 'y', 'z']
    """
    bound, free = set(), set()

    def visit(stmts):
        for stmt in stmts:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                free.update(_scope_refs(stmt))
                bound.add(stmt.name)
            elif isinstance(stmt, (ast.For, ast.AsyncFor)):
                loads, _ = _module_loads_and_stores(stmt.iter)
                free.update(loads - bound)
                bound.update(_stored_names(stmt.target))
                visit(stmt.body + stmt.orelse)
            elif isinstance(stmt, (ast.If, ast.While)):
                loads, _ = _module_loads_and_stores(stmt.test)
                free.update(loads - bound)
                visit(stmt.body + stmt.orelse)
            elif isinstance(stmt, (ast.With, ast.AsyncWith)):
                for item in stmt.items:
                    loads, _ = _module_loads_and_stores(item.context_expr)
                    free.update(loads - bound)
                    if item.optional_vars is not None:
                        bound.update(_stored_names(item.optional_vars))
                visit(stmt.body)
            elif isinstance(stmt, ast.Try) or type(stmt).__name__ == "TryStar":
                visit(stmt.body)
                for handler in stmt.handlers:
                    if handler.type is not None:
                        free.update(_module_loads_and_stores(handler.type)[0] - bound)
                    if handler.name:
                        bound.add(handler.name)
                    visit(handler.body)
                visit(stmt.orelse + stmt.finalbody)
            else:
                loads, stores = _module_loads_and_stores(stmt)
                if isinstance(stmt, ast.AugAssign):
                    loads |= set(_stored_names(stmt.target))
                free.update(loads - bound)
                bound.update(stores)

    visit(tree.body)
    return free


def _bindings(tree) -> list[tuple[str, ast.AST, str | None]]:
    """Module-level bindings of a cell, and those made through ``global``: (name, node, import target)."""
    out = []

    def walk(node, module_level: bool, globals_: set):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, NESTED):
                if module_level and hasattr(child, "name"):
                    out.append((child.name, child, None))
                inner = {n for g in ast.walk(child) if isinstance(g, ast.Global) for n in g.names}
                for d in getattr(child, "decorator_list", []) + getattr(child, "bases", []):
                    walk(d, module_level, globals_)
                walk(child, False, inner)
                continue
            if isinstance(child, ast.Name) and isinstance(child.ctx, (ast.Store, ast.Del)):
                if module_level or child.id in globals_:
                    out.append((child.id, child, None))
            elif isinstance(child, (ast.Import, ast.ImportFrom)):
                for name, target in _import_bindings(child).items():
                    if module_level or name in globals_:
                        out.append((name, child, target))
            elif isinstance(child, ast.ExceptHandler) and child.name and (module_level or child.name in globals_):
                out.append((child.name, child, None))
            walk(child, module_level, globals_)

    walk(tree, True, set())
    return out


class Instructor:
    """What the instructor's cells of a source notebook provide.

    ``reads``: ``{grade_id: names the cell reads from earlier cells}`` for every instructor cell
    (locked or check cell), without the names the solution cells are meant to define; ``binds``:
    ``{grade_id: names the cell binds}``;
    ``imports``: ``{alias: module}`` of the instructor's imports; ``sources``: ``{grade_id: {its source,
    its source without hidden tests (as released)}}``.
    """

    def __init__(self, source_nb):
        self.reads, self.binds, self.imports, self.sources, solution_names = {}, {}, {}, {}, set()
        for cell in source_nb["cells"]:
            meta = nbgrader_meta(cell)
            if cell["cell_type"] != "code" or not meta:
                continue
            tree = _parse(cell["source"])
            if meta.get("solution"):
                solution_names |= {name for name, _, _ in _bindings(tree)} if tree else set()
            elif meta.get("grade") or meta.get("locked"):
                self.reads[meta.get("grade_id")] = free_names(tree) if tree else set()
                self.binds[meta.get("grade_id")] = {name for name, _, _ in _bindings(tree)} if tree else set()
                self.sources[meta.get("grade_id")] = {cell["source"].strip(), HIDDEN.sub("", cell["source"]).strip()}
                for node in ast.walk(tree) if tree else []:
                    if isinstance(node, (ast.Import, ast.ImportFrom)):
                        self.imports.update(_import_bindings(node))
        self.reads = {gid: names - solution_names for gid, names in self.reads.items()}


def review_cell(source: str, protected: set, imports: dict, label: str = "cell") -> list[str]:
    """Return one line per suspicious construct of one student cell: where, the line, and why.

    ``protected``: names that instructor cells after this one read; ``imports``: ``{alias: module}``
    of the instructor's imports (attributes of any imported module are always watched).

    >>> review_cell("def f(x):\\n    return x\\nnp.allclose = lambda *a, **k: True", {"np"}, {"np": "numpy"}, "cell 'bpr'")
    ["cell 'bpr' line 3: `np.allclose = lambda *a, **k: True`: changes np.allclose (np is a module the checks use)"]
    >>> review_cell("import numpy as np\\nall_ok = all([1])", {"np", "all"}, {"np": "numpy"})
    []
    >>> review_cell("all = lambda xs: True", {"all"}, {})
    ["cell line 1: `all = lambda xs: True`: rebinds all, which the instructor's cells read"]
    """
    tree = _parse(source)
    if tree is None:
        return []   # a syntax error fails on its own when the cell runs
    lines = source.splitlines()
    modules = set(imports) | {"builtins", "__builtins__"}
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            modules |= set(_import_bindings(node))
    watched = modules | set(protected)
    findings: dict[int, list[str]] = {}

    def flag(node, why):
        findings.setdefault(getattr(node, "lineno", 0), [])
        if why not in findings[node.lineno]:
            findings[node.lineno].append(why)

    def owner(name):
        return f"{name} is a module the checks use" if name in modules else f"the checks use {name}"

    for name, node, target in _bindings(tree):
        if name in protected and not (target and imports.get(name) == target):
            flag(node, f"rebinds {name}, which the instructor's cells read")
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            if node.attr in HOOKS:
                flag(node, f"touches IPython/interpreter hooks ({node.attr})")
            elif node.attr in INTROSPECTION:
                flag(node, f"reaches into namespaces or frames ({node.attr})")
            elif node.attr in ("register", "unregister") and isinstance(node.value, ast.Attribute) \
                    and node.value.attr == "events":
                flag(node, "registers an IPython event hook (events.register)")
            elif isinstance(node.value, ast.Call) and _root(node.value.func) == "get_ipython" \
                    and node.attr not in SHELL_OK:
                flag(node, f"uses the IPython shell (get_ipython().{node.attr})")
            if isinstance(node.ctx, (ast.Store, ast.Del)) and _root(node) in watched:
                flag(node, f"changes {ast.unparse(node)} ({owner(_root(node))})")
        elif isinstance(node, ast.Subscript) and isinstance(node.ctx, (ast.Store, ast.Del)) \
                and _root(node) in watched:
            flag(node, f"changes {ast.unparse(node)} ({owner(_root(node))})")
        elif isinstance(node, ast.Name) and node.id == "__builtins__":
            flag(node, "uses __builtins__")
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            if any(n.split(".")[0] in FORBIDDEN_IMPORTS for n in names):
                flag(node, "imports ctypes")
        elif isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id in DYNAMIC | {"vars", "locals"}:
                if func.id in DYNAMIC or not node.args:
                    flag(node, f"runs or reaches code dynamically ({func.id}())")
            elif isinstance(func, ast.Name) and func.id in ("setattr", "delattr") and node.args \
                    and _root(node.args[0]) in watched:
                flag(node, f"{func.id} on {ast.unparse(node.args[0])} ({owner(_root(node.args[0]))})")
            elif isinstance(func, ast.Attribute) and _root(func.value) in watched and (
                    func.attr in MUTATORS or any(k.arg == "inplace" for k in node.keywords)):
                if _root(func.value) not in modules or func.attr.startswith("__"):
                    flag(node, f"modifies {ast.unparse(func.value)} in place ({owner(_root(func.value))})")
            if isinstance(func, ast.Attribute) and func.attr in ("run_line_magic", "run_cell_magic") \
                    and node.args and isinstance(node.args[0], ast.Constant) and node.args[0].value not in MAGICS_OK:
                flag(node, f"uses the magic %{node.args[0].value}")
    out = []
    for lineno in sorted(findings):
        text = lines[lineno - 1].strip() if 0 < lineno <= len(lines) else ""
        out.append(f"{label} line {lineno}: `{text}`: " + "; ".join(findings[lineno]))
    return out


def review(submitted_nb, source_nb) -> list[str]:
    """Return the findings in a submission's own cells (solution cells, added cells); [] if none.

    Cells identical to the instructor's cell of the same grade_id are skipped; every other code
    cell is reviewed (an edited locked cell too: nbgrader restores it, but the edit shows intent,
    and a copied grade_id must not hide a cell). An instructor cell missing from the submission
    is a finding too (a student cell may stand in for it).

    Example::

        review(nbformat.read("submitted/alice/03_ranking_losses/03_ranking_losses.ipynb", 4),
               nbformat.read("source/03_ranking_losses/03_ranking_losses.ipynb", 4))
    """
    instructor = Instructor(source_nb)
    cells = submitted_nb["cells"]
    ids = [nbgrader_meta(c).get("grade_id") for c in cells]
    # walk backwards: the names instructor cells after each cell read before binding them again
    needed, protected = set(), [set()] * len(cells)
    for n in range(len(cells) - 1, -1, -1):
        gid = ids[n]
        if gid in instructor.reads and cells[n]["cell_type"] == "code":
            needed = (needed - instructor.binds[gid]) | instructor.reads[gid]
        protected[n] = set(needed)
    findings = []
    for n, (cell, gid) in enumerate(zip(cells, ids)):
        if cell["cell_type"] != "code" or cell["source"].strip() in instructor.sources.get(gid, {""}):
            continue   # the instructor's own code (nbgrader also restores edited locked cells: still reviewed)
        label = f"cell '{gid}'" if gid else f"cell {n + 1} (added)"
        findings += review_cell(cell["source"], protected[n] | set(instructor.imports), instructor.imports, label)
    missing = sorted(set(instructor.reads) - set(ids))
    if missing:
        findings.append("the instructor's cells " + ", ".join(f"'{i}'" for i in missing)
                        + " are missing from the submission (a student cell may stand in for them)")
    return findings
