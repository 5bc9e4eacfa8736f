"""The course as a static website (instructor tooling): ``make book``.

``python -m labkit.course.book prepare --build build`` writes ``build/book-src/``, the Sphinx
sources of the site, from what the last ``make run`` left in ``build/`` (never re-executing a
notebook): a landing page made of README.md's sections, the executed lessons
(``build/full/NN_*.ipynb``), the exercises as nbgrader releases them (solutions and hidden tests
removed by nbgrader's own preprocessors), the reproduction report (``build/report.md``), the
references, and ``conf.py`` (myst-nb with execution off, the book theme, MathJax and Mermaid
served from the site itself). ``make book`` then runs Sphinx (``-W --keep-going -n``: a warning
fails the build) and ``python -m labkit.course.book check --build build --site build/book``, which
fails on a lesson missing from the site or out of order, a broken internal link or anchor, a
script, style sheet or image fetched from another host, solution markup left in an exercise, a
page without the banner of the run that produced it, a data file copied into the site, or a page
holding more than ``MAX_DATA_ROWS`` lines that look like MovieLens rows or more than
``MAX_TITLE_LINES`` lines with a movie title (MovieLens may not be redistributed: the site holds
metrics, figures and the few example rows and titles the lessons print).

Every page carries a banner with the run (the date of ``build/report.json``, the git commit the
book was built at and whether the notebooks' code still matches it, the datasets); each lesson
adds its own execution time and dataset, read from the executed notebook.
"""

from __future__ import annotations

import argparse
import html.parser
import json
import os
import posixpath
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
RECORD_MIME = "application/vnd.labkit.record+json"   # labkit.results.MIME: no renderer, dropped
README_SECTIONS = ["Set-up", "Where it runs", "The notebooks", "Data"]   # after the intro
MAX_DATA_ROWS = 20          # lines per page that look like MovieLens rating / interaction rows
MAX_TITLE_LINES = 60        # lines per page holding a movie title, "Name (1995)" (the lessons print ~20)
TITLE = re.compile(r"[A-Za-z][^\n]{0,100}\((19[0-9]|200)\d\)")
# Unix times of MovieLens events: ML-100K Sept 1997 - Apr 1998, ML-1M Apr 2000 - Feb 2003
# (a margin either side); a row holding one of them and other integers is a row of the data.
EVENT_TIME = (870_000_000, 1_060_000_000)
EVENT_DATE = re.compile(r"\b(199[7-9]|200[0-3])-[01]\d-[0-3]\d\b")
DATA_SUFFIXES = {".dat", ".data", ".csv", ".tsv", ".zip", ".item", ".user", ".base", ".test", ".npy",
                 ".npz", ".pkl", ".pickle", ".parquet", ".feather", ".h5", ".hdf5", ".sqlite", ".db",
                 ".ipynb", ".json.gz", ".gz"}
BANNER_ID = "run-banner"
MATHJAX_FILES = ["tex-mml-chtml.js", "input", "output", "ui", "a11y", "sre", "adaptors"]
THEME_PINS_NOTE = "pinned in pyproject.toml, [project.optional-dependencies] book"



class BookError(RuntimeError):
    """A problem that stops the book: one short message saying what and where."""


# ----------------------------------------------------------------------------- sources

def readme_sections(text: str, names: list[str]) -> tuple[str, dict[str, str]]:
    """Return (title and intro, {name: section}) of a Markdown text split at its ``## `` headings.

    Raises BookError when a named section is missing (README.md renamed one).

    >>> intro, s = readme_sections("# T\\nhi\\n## A\\na\\n```\\n## not a heading\\n```\\n## B\\nb\\n", ["A"])
    >>> intro, s["A"]
    ('# T\\nhi\\n', '## A\\na\\n```\\n## not a heading\\n```\\n')
    """
    parts, current, fence = {}, None, False
    intro: list[str] = []
    for line in text.splitlines(keepends=True):
        if line.lstrip().startswith("```"):
            fence = not fence
        if not fence and line.startswith("## "):
            current = line[3:].strip()
            parts[current] = []
        (parts[current] if current else intro).append(line)
    missing = [n for n in names if n not in parts]
    if missing:
        raise BookError(f"README.md has no section {missing} (the landing page is made of {names})")
    return "".join(intro), {n: "".join(parts[n]) for n in names}


LINK = re.compile(r"(!?)\[([^\]]*)\]\(([^)\s]+)\)")


def fix_links(markdown: str, origin: str, site_path: str, pages: dict[str, str]) -> str:
    """Rewrite the relative links of a Markdown text moved from ``origin`` (its path in the repository)
    to ``site_path`` (its path in the site); ``pages`` maps repository paths to site paths.

    A link to something the site does not hold becomes its text and the repository path, in code.

    >>> fix_links("[08](full/08.ipynb) [x](../data/a.csv) [w](https://x.org)", "build/report.md",
    ...           "report.md", {"build/full/08.ipynb": "notebooks/08.ipynb"})
    '[08](notebooks/08.ipynb) x (`data/a.csv` in the repository) [w](https://x.org)'
    """
    def repl(m):
        bang, text, target = m.groups()
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            return m.group(0)
        path, _, frag = target.partition("#")
        repo_path = posixpath.normpath(posixpath.join(posixpath.dirname(origin), path))
        if repo_path in pages:
            new = posixpath.relpath(pages[repo_path], posixpath.dirname(site_path) or ".")
            return f"{bang}[{text}]({new}{'#' + frag if frag else ''})"
        if bang:
            raise BookError(f"{origin}: image {target} is not part of the site")
        return text if repo_path in text else f"{text} (`{repo_path}` in the repository)"
    return LINK.sub(repl, markdown)


def release_exercise(nb):
    """Return the notebook as students get it: nbgrader's ClearSolutions, ClearHiddenTests,
    ClearMarkScheme and ClearOutput applied (what ``nbgrader generate_assignment`` does to cells).

    Raises BookError if solution or hidden-test markup survives.
    """
    from nbgrader.preprocessors import ClearHiddenTests, ClearMarkScheme, ClearOutput, ClearSolutions

    resources: dict = {}
    for pre in (ClearSolutions(), ClearHiddenTests(), ClearMarkScheme(), ClearOutput()):
        nb, resources = pre.preprocess(nb, resources)
    left = [c.get("id") for c in nb.cells if re.search(r"BEGIN (SOLUTION|HIDDEN TESTS|MARK SCHEME)", c.source)]
    if left:
        raise BookError(f"solution markup left in cells {left} after nbgrader's preprocessors")
    return nb


def tidy_cells(nb, prefix: str):
    """Give every cell a site-wide unique id (``prefix-N``) and drop labkit's record MIME type (no
    renderer has it; the text/plain beside it is what the reader sees). Returns the notebook.

    >>> import nbformat
    >>> nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")])
    >>> nb.cells[0].outputs = [nbformat.v4.new_output("display_data", {"text/plain": "a", RECORD_MIME: {}})]
    >>> nb = tidy_cells(nb, "nb01")
    >>> nb.cells[0].id, sorted(nb.cells[0].outputs[0].data)
    ('nb01-0', ['text/plain'])
    """
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"{prefix}-{i}"
        for out in cell.get("outputs", []):
            out.get("data", {}).pop(RECORD_MIME, None)
    return nb


def put_under_title(nb, text: str) -> None:
    """Insert ``text`` (Markdown) right under the notebook's title line (in its first Markdown cell).

    >>> import nbformat
    >>> nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# T\\nintro")])
    >>> put_under_title(nb, "note"); nb.cells[0].source
    '# T\\n\\nnote\\nintro'
    """
    cell = next((c for c in nb.cells if c.cell_type == "markdown"), None)
    if cell is None or not cell.source.lstrip().startswith("# "):
        raise BookError("a notebook of the site must start with a Markdown cell holding its `# title`")
    title, _, rest = cell.source.lstrip().partition("\n")
    cell.source = f"{title}\n\n{text}\n{rest}" if rest else f"{title}\n\n{text}"


def _code(cells) -> list[tuple[str, str]]:
    return [(c.cell_type, c.source.strip()) for c in cells
            if "injected-parameters" not in c.get("metadata", {}).get("tags", [])]


def git_commit(repo: Path = REPO_ROOT) -> tuple[str, bool]:
    """Return (short commit of HEAD, whether notebooks/, exercises/ or labkit/ (but its course
    tooling) differ from it); ("unknown", False) outside git."""
    try:
        head = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short=10", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--", "notebooks", "labkit",
                                "exercises", ":(exclude)labkit/course"],
                               capture_output=True, text=True, check=True).stdout.strip() != ""
        return head, dirty
    except (OSError, subprocess.CalledProcessError):
        return "unknown", False


def run_facts(build: Path) -> dict:
    """The run the site shows: ``generated`` and the notebooks of ``build/report.json``, plus the commit.

    Raises BookError when there is no report (run ``make run`` first).
    """
    path = build / "report.json"
    if not path.is_file():
        raise BookError(f"{path} not found: `make book` shows the results of the last `make run`; run it first")
    report = json.loads(path.read_text())
    commit, dirty = report.get("commit"), report.get("dirty")   # recorded by the run, where it does
    if commit is None:
        commit, dirty = git_commit()
        where = "the commit checked out when the book was built"
    else:
        where = "the run's commit"
    datasets = sorted({str(e.get("dataset")) for e in report.get("notebooks", []) if e.get("dataset")})
    return {"generated": report.get("generated", "unknown"), "commit": commit, "dirty": bool(dirty),
            "commit_source": where, "datasets": datasets,
            "by_notebook": {e["notebook"]: e for e in report.get("notebooks", [])}}


def banner_html(facts: dict) -> str:
    """The banner on every page: which run produced the results shown."""
    dirty = " with uncommitted changes" if facts["dirty"] else ""
    when = " (checked out when the site was built)" if facts.get("commit_source", "").startswith("the commit") else ""
    return (f'<span id="{BANNER_ID}">Results of the <code>make run</code> of {facts["generated"]}; '
            f'commit <code>{facts["commit"]}</code>{dirty}{when}; data: {", ".join(facts["datasets"]) or "none"}.</span>')


def lesson_note(nb, source_nb, stem: str, facts: dict) -> str:
    """The note under a lesson's title: when and on what its executed copy ran, and whether its code
    still matches the source notebook at the commit named in the banner."""
    pm = nb.metadata.get("papermill", {})
    entry = facts["by_notebook"].get(stem, {})
    dataset = entry.get("dataset") or "unknown data"
    start = str(pm.get("start_time", "?"))[:19].replace("T", " ")
    wall = pm.get("duration")
    same = source_nb is not None and _code(nb.cells) == _code(source_nb.cells)
    code = ("its code is that of `notebooks/{0}.ipynb` at commit `{1}`" if same else
            "**`notebooks/{0}.ipynb` has changed since this run** (commit `{1}`): run `make run` again"
            ).format(stem, facts["commit"])
    status = entry.get("status", "not in the report")
    return (f":::{{note}}\nThis page is the notebook as `make run` executed it on **{dataset}**, starting "
            f"{start} UTC" + (f" ({wall:.0f} s)" if isinstance(wall, (int, float)) else "") +
            f"; report status: {status}; {code}. Nothing here was re-run to build the page.\n:::\n")


def conf_py(facts: dict, lessons: list[str], mermaid: bool) -> str:
    """The generated Sphinx configuration."""
    conf = {
        "project": "Deep Recommender Systems, hands-on",
        "author": "the course's authors",
        "copyright": "the course's authors; MovieLens by GroupLens Research (not redistributed here)",
        "extensions": ["myst_nb", "sphinx.ext.mathjax", "sphinxcontrib.mermaid"],
        "exclude_patterns": ["_build", "**.ipynb_checkpoints"],
        "html_theme": "sphinx_book_theme",
        "html_title": "Deep Recommender Systems, hands-on",
        "html_static_path": ["_static"],
        "html_copy_source": False,          # the executed notebooks stay out of the site
        "html_show_sourcelink": False,
        "html_context": {"default_mode": "light"},   # else the theme logs an error on a first visit
        "html_theme_options": {
            "announcement": banner_html(facts),
            "use_download_button": False,
            "use_fullscreen_button": False,
            "show_toc_level": 2,
            "home_page_in_toc": True,
        },
        "mathjax_path": "mathjax/tex-mml-chtml.js",          # relative to _static: no CDN
        "mermaid_use_local": "mermaid/mermaid.esm.min.mjs",
        "mermaid_version": "",
        "mermaid_height": "auto",           # the default 500 px box shrinks a wide diagram to fit it
        "mermaid_fullscreen": False,
        "nitpicky": True,
        "nb_execution_mode": "off",
        "nb_render_markdown_format": "myst",
        "nb_ipywidgets_js": {},
        "nb_merge_streams": True,
        "myst_enable_extensions": ["dollarmath", "amsmath", "colon_fence"],
        "myst_fence_as_directive": ["mermaid"],
        "myst_heading_anchors": 3,
        "suppress_warnings": [],
    }
    lines = ["# Generated by labkit/course/book.py (make book); edit that file, not this one."]
    lines += [f"{k} = {v!r}" for k, v in conf.items()]
    return "\n".join(lines) + "\n"


def copy_assets(node_modules: Path, static: Path) -> bool:
    """Copy MathJax and Mermaid from ``node_modules`` (npm, labkit/course/book_assets) into ``static``."""
    mj = node_modules / "mathjax" / "es5"
    mm = node_modules / "mermaid" / "dist"
    for need in (mj / "tex-mml-chtml.js", mm / "mermaid.esm.min.mjs"):
        if not need.is_file():
            raise BookError(f"{need} missing: run `python -m labkit.course.book assets` (make book does)")
    for name in MATHJAX_FILES:
        src = mj / name
        if src.is_dir():
            shutil.copytree(src, static / "mathjax" / name)
        elif src.is_file():
            (static / "mathjax").mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, static / "mathjax" / name)
    (static / "mermaid").mkdir(parents=True, exist_ok=True)
    shutil.copy2(mm / "mermaid.esm.min.mjs", static / "mermaid")
    shutil.copytree(mm / "chunks" / "mermaid.esm.min", static / "mermaid" / "chunks" / "mermaid.esm.min",
                    ignore=shutil.ignore_patterns("*.map"))
    return True


ASSET_FILES = {"mathjax": ["es5/"], "mermaid": ["dist/mermaid.esm.min.mjs", "dist/chunks/mermaid.esm.min/"]}


def fetch_assets(folder: Path) -> list[str]:
    """Put MathJax and Mermaid, at the versions and sha512 of ``folder/package-lock.json``, into
    ``folder/node_modules`` without their dependencies (the site needs only their built files):
    ``npm pack`` fetches each tarball from the npm registry, its sha512 is checked against the lock,
    and only ``ASSET_FILES`` are unpacked. 10 s instead of ``npm ci``'s 126 packages (~1 min).
    Returns the packages fetched as ``name@version``.
    """
    import base64
    import hashlib
    import tarfile
    import tempfile

    lock = json.loads((folder / "package-lock.json").read_text())["packages"]
    done = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, keep in ASSET_FILES.items():
            entry = lock[f"node_modules/{name}"]
            spec = f"{name}@{entry['version']}"
            subprocess.run(["npm", "pack", "--silent", "--pack-destination", tmp, spec], check=True,
                           stdout=subprocess.DEVNULL)
            tgz = Path(tmp) / f"{name}-{entry['version']}.tgz"
            digest = "sha512-" + base64.b64encode(hashlib.sha512(tgz.read_bytes()).digest()).decode()
            if digest != entry["integrity"]:
                raise BookError(f"{spec}: the tarball's sha512 differs from package-lock.json's")
            dest = folder / "node_modules" / name
            if dest.exists():
                shutil.rmtree(dest)
            with tarfile.open(tgz) as tar:
                members = [m for m in tar.getmembers() if m.isfile() and
                           any(m.name.removeprefix("package/").startswith(k) for k in keep)]
                for m in members:
                    m.name = m.name.removeprefix("package/")
                tar.extractall(dest, members=members, filter="data")
            done.append(spec)
    (folder / "node_modules" / ".fetched").write_text("\n".join(done) + "\n")
    return done


def references_md(readme: str) -> str:
    """The references page: README.md's "References" section (one list for the repository and the site),
    its headings one level up.

    >>> references_md("# T\\n## References\\nr\\n### Papers\\n- a\\n## Other\\n")
    '# References\\nr\\n## Papers\\n- a\\n'
    """
    section = readme_sections(readme, ["References"])[1]["References"]
    return re.sub(r"^#(#+ )", r"\1", section, flags=re.M)


def anchors_to(markdown: str, readme: str, section: str, page: str) -> str:
    """Point in-page links to ``section`` of README.md (``#slug`` of it or of its subheadings) at ``page``.

    >>> anchors_to("[p](#papers) [s](#set-up)", "## References\\n### Papers\\n## Set-up\\n", "References", "references.md")
    '[p](references.md#papers) [s](#set-up)'
    """
    text = readme_sections(readme, [section])[1][section]
    slugs = {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-")
             for h in re.findall(r"^#+ (.*)$", text, flags=re.M)}
    return re.sub(r"\]\(#([^)\s]+)\)", lambda m: f"]({page}#{m.group(1)})" if m.group(1) in slugs else m.group(0),
                  markdown)


def prepare(build: Path, out: Path, node_modules: Path, repo: Path = REPO_ROOT) -> list[str]:
    """Write the site's sources into ``out`` from ``build`` (a ``make run``) and the repository;
    return the lesson stems in order."""
    import nbformat

    facts = run_facts(build)
    lessons = sorted(p.stem for p in (repo / "notebooks").glob("[0-9]*.ipynb"))
    skipped = {s: e["skipped"] for s, e in facts["by_notebook"].items() if e.get("skipped")}
    missing = [s for s in lessons if not (build / "full" / f"{s}.ipynb").is_file() and s not in skipped]
    if missing:
        raise BookError(f"no executed notebook for {missing} in {build / 'full'}: run `make run` first")
    exercises = sorted(p.stem for p in (repo / "exercises").glob("[0-9]*.ipynb"))
    if out.exists():
        shutil.rmtree(out)
    (out / "notebooks").mkdir(parents=True)
    (out / "exercises").mkdir()
    pages = {"README.md": "index.md", "build/report.md": "report.md", "exercises/README.md": "exercises/README.md"}
    pages |= {f"notebooks/{s}.ipynb": f"notebooks/{s}.ipynb" for s in lessons}
    pages |= {f"build/full/{s}.ipynb": f"notebooks/{s}.ipynb" for s in lessons}
    pages |= {f"exercises/{s}.ipynb": f"exercises/{s}.ipynb" for s in exercises}
    if (build / "report.png").is_file():
        shutil.copy2(build / "report.png", out / "report.png")
        pages["build/report.png"] = "report.png"

    mermaid = False
    for s in lessons:
        if s in skipped and not (build / "full" / f"{s}.ipynb").is_file():   # e.g. MXNet on a Mac
            nb = tidy_cells(nbformat.read(repo / "notebooks" / f"{s}.ipynb", as_version=4), "nb" + s.split("_")[0])
            put_under_title(nb, f":::{{warning}}\nThis lesson was skipped by the `make run` this site shows: "
                                f"{skipped[s]}. Its code is shown without outputs.\n:::\n")
            nbformat.write(nb, out / "notebooks" / f"{s}.ipynb")
            continue
        nb = nbformat.read(build / "full" / f"{s}.ipynb", as_version=4)
        if nb.metadata.get("papermill", {}).get("exception") or any(
                o.get("output_type") == "error" for c in nb.cells for o in c.get("outputs", [])):
            raise BookError(f"{build / 'full' / s}.ipynb stopped with an error in the run: the site shows "
                            "complete runs only; fix it and run `make run` again")
        src = nbformat.read(repo / "notebooks" / f"{s}.ipynb", as_version=4)
        note = lesson_note(nb, src, s, facts)
        nb = tidy_cells(nb, "nb" + s.split("_")[0])
        for cell in nb.cells:
            if cell.cell_type == "markdown":
                cell.source = fix_links(cell.source, f"notebooks/{s}.ipynb", f"notebooks/{s}.ipynb", pages)
                mermaid |= "```mermaid" in cell.source
        put_under_title(nb, note)
        nbformat.write(nb, out / "notebooks" / f"{s}.ipynb")
    for s in exercises:
        nb = release_exercise(nbformat.read(repo / "exercises" / f"{s}.ipynb", as_version=4))
        nb = tidy_cells(nb, "ex" + s.split("_")[0])
        for cell in nb.cells:
            if cell.cell_type == "markdown":
                cell.source = fix_links(cell.source, f"exercises/{s}.ipynb", f"exercises/{s}.ipynb", pages)
        put_under_title(nb, ":::{note}\nThe exercise as students get it (`make student`: solutions and hidden tests "
                            "removed by nbgrader), not executed. Open it in JupyterLab to work on it.\n:::\n")
        nbformat.write(nb, out / "exercises" / f"{s}.ipynb")

    readme = (repo / "README.md").read_text()
    intro, sections = readme_sections(readme, README_SECTIONS)
    toc = ["", "```{toctree}", ":caption: Lessons", ":maxdepth: 1", ""] + [f"notebooks/{s}" for s in lessons] + \
          ["```", "", "```{toctree}", ":caption: Exercises", ":maxdepth: 1", "", "exercises/README"] + \
          [f"exercises/{s}" for s in exercises] + \
          ["```", "", "```{toctree}", ":caption: Results and sources", ":maxdepth: 1", "", "report", "references", "```"]
    site_note = (":::{note}\nThis website shows the lessons as `make run` executed them (nothing was re-run to "
                 "build it), the exercises as students get them, the [reproduction report](report.md) and the "
                 "[references](references.md). To run the course yourself, see [Set-up](#set-up).\n:::\n\n")
    readme_part = fix_links("".join(sections[n] for n in README_SECTIONS), "README.md", "index.md", pages)
    index = fix_links(intro, "README.md", "index.md", pages) + site_note + readme_part + "\n".join(toc) + "\n"
    index = anchors_to(index, readme, "References", "references.md")
    (out / "index.md").write_text(index)
    ex_readme = (repo / "exercises" / "README.md").read_text()
    (out / "exercises" / "README.md").write_text(fix_links(ex_readme, "exercises/README.md",
                                                           "exercises/README.md", pages))
    report = (build / "report.md").read_text()
    (out / "report.md").write_text(fix_links(report, "build/report.md", "report.md", pages))
    (out / "references.md").write_text(fix_links(references_md(readme), "README.md", "references.md", pages))
    copy_assets(node_modules, out / "_static")
    (out / "conf.py").write_text(conf_py(facts, lessons, mermaid))
    (out / "lessons.json").write_text(json.dumps({"lessons": lessons, "exercises": exercises}))
    return lessons


# ----------------------------------------------------------------------------- checks of the built site

class _Page(html.parser.HTMLParser):
    """What the checks need from one HTML page: ids, references to other files, inline scripts, text
    lines (a table row per line, cells separated by tabs)."""

    REFS = {"a": "href", "link": "href", "script": "src", "img": "src", "iframe": "src", "source": "src",
            "embed": "src", "object": "data", "video": "src", "audio": "src"}
    BREAKS = {"tr", "br", "p", "div", "li", "pre", "h1", "h2", "h3", "h4", "table", "section", "dd", "dt"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids, self.refs, self.scripts, self.text = set(), [], [], [""]
        self._in_script = False
        self._in_pre = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for key in ("id", "name"):
            if a.get(key):
                self.ids.add(a[key])
        if tag in self.REFS and a.get(self.REFS[tag]):
            self.refs.append((tag, a.get("rel") or "", a[self.REFS[tag]]))
        if tag == "img" and a.get("srcset"):
            self.refs += [("img", "", s.split()[0]) for s in a["srcset"].split(",") if s.strip()]
        self._in_script = tag in ("script", "style")
        self._in_pre += tag == "pre"
        if tag in self.BREAKS:
            self.text.append("")
        if tag in ("td", "th"):
            self.text[-1] += "\t"

    def handle_endtag(self, tag):
        self._in_script = False
        self._in_pre -= tag == "pre" and self._in_pre > 0
        if tag in self.BREAKS:
            self.text.append("")

    def handle_data(self, data):
        if self._in_script:
            self.scripts.append(data)
            return
        if self._in_pre:
            lines = data.split("\n")
            self.text[-1] += lines[0]
            self.text += lines[1:]
        else:
            self.text[-1] += data


def parse_page(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    return page


def data_rows(lines: list[str]) -> int:
    """Count the lines that look like rows of MovieLens: ``u::i::r::t`` lines, and lines holding a
    Unix time (or a date) within MovieLens' collection periods beside at least two other integers.

    >>> data_rows(["196\\t242\\t3\\t881250949", "1::1193::5::978300760", "0\\t12\\t0.8732\\t2", "year 1998",
    ...            "3\\t42\\t5\\t1998-02-01 10:00:00", "1000209 interactions, 6040 users, 3706 items"])
    3
    """
    n = 0
    for line in lines:
        if re.search(r"\d+::\d+::\d+::\d+", line):
            n += 1
            continue
        ints = [int(t) for t in re.findall(r"(?<![\d.])\d+(?![\d.])", EVENT_DATE.sub(" ", line))]
        timed = any(EVENT_TIME[0] <= v <= EVENT_TIME[1] for v in ints)
        others = [v for v in ints if not EVENT_TIME[0] <= v <= EVENT_TIME[1]]
        if (timed or EVENT_DATE.search(line)) and len(others) >= 2:
            n += 1
    return n


def title_lines(lines: list[str]) -> int:
    """Count the lines holding a MovieLens-style movie title, ``Name (year)``.

    >>> title_lines(["['Toy Story (1995)', 'Comedy']", "hit@10 = 0.1995 (1995 users)", "Star Wars (1977)"])
    2
    """
    return sum(1 for line in lines if TITLE.search(line))


def _resolve(site: Path, page: Path, url: str) -> tuple[Path | None, str]:
    """The file a relative URL of ``page`` points to, and its fragment (None for another host)."""
    if re.match(r"^[a-z][a-z0-9+.-]*:", url, re.I) or url.startswith("//"):
        return None, ""
    path, _, frag = url.partition("#")
    path = path.split("?")[0]
    target = page if not path else (site / path.lstrip("/") if path.startswith("/")
                                    else (page.parent / path))
    target = Path(os.path.normpath(target))
    if target.is_dir():
        target = target / "index.html"
    return target, frag


def check_site(site: Path, lessons: list[str], exercises: list[str] = ()) -> list[str]:
    """Return the problems of a built site (an empty list when it is fine); see the module docstring."""
    problems: list[str] = []
    site = site.resolve()
    if not (site / "index.html").is_file():
        return [f"{site}/index.html missing: the site was not built"]
    pages = {p: parse_page(p.read_text(errors="replace")) for p in site.rglob("*.html")
             if p.relative_to(site).parts[0] != "_static"}   # the theme's template leftovers, unlinked
    for stem in lessons:
        page = site / "notebooks" / f"{stem}.html"
        if page not in pages:
            problems.append(f"lesson {stem} missing from the site ({page.relative_to(site)})")
    for stem in exercises:
        if site / "exercises" / f"{stem}.html" not in pages:
            problems.append(f"exercise {stem} missing from the site")
    # the lessons in order in the navigation of the landing page
    nav = [r[2] for r in pages[site / "index.html"].refs if r[0] == "a"]
    order = [next((i for i, u in enumerate(nav) if u.split("#")[0].endswith(f"notebooks/{s}.html")), None)
             for s in lessons]
    found = [i for i in order if i is not None]
    if found != sorted(found):
        problems.append("the lessons are not in order in the landing page's navigation")
    for path, page in pages.items():
        rel = path.relative_to(site)
        for tag, rel_attr, url in page.refs:
            target, frag = _resolve(site, path, url)
            if target is None:
                if tag != "a":
                    problems.append(f"{rel}: <{tag}> loads {url} from another host (the site must work offline)")
                continue
            try:
                target.relative_to(site)
            except ValueError:
                problems.append(f"{rel}: {url} points outside the site")
                continue
            if not target.exists():
                problems.append(f"{rel}: broken link {url}")
            elif frag and target.suffix == ".html" and frag not in pages.get(target, _Page()).ids:
                problems.append(f"{rel}: broken anchor {url}")
        for script in page.scripts:
            for m in re.finditer(r"""["'(](https?:)?//[^"')\s]+""", script):   # any URL a script could load
                problems.append(f"{rel}: inline script or style loads {m.group(0)[:80]} from another host")
        if f'id="{BANNER_ID}"' not in path.read_text(errors="replace") and rel.name not in ("genindex.html",):
            problems.append(f"{rel}: no banner saying which run produced it")
        rows = data_rows(page.text)
        if rows > MAX_DATA_ROWS:
            problems.append(f"{rel}: {rows} lines look like MovieLens rows (at most {MAX_DATA_ROWS} per page: "
                            "MovieLens may not be redistributed)")
        titles = title_lines(page.text)
        if titles > MAX_TITLE_LINES:
            problems.append(f"{rel}: {titles} lines hold movie titles (at most {MAX_TITLE_LINES} per page)")
        # a released exercise's page (the exercises' README, for instructors too, explains the markup)
        if rel.parts[0] == "exercises" and rel.name != "README.html" and re.search(
                r"BEGIN (SOLUTION|HIDDEN TESTS|MARK SCHEME)|For instructors", path.read_text()):
            problems.append(f"{rel}: solution markup or an instructor's answer in an exercise page")
    for css in site.rglob("*.css"):
        for m in re.finditer(r"""(?:url\(\s*["']?|@import\s+["']?)(https?:)?//[^"')\s]+""", css.read_text(errors="replace")):
            problems.append(f"{css.relative_to(site)}: loads {m.group(0)[:80]} from another host")
    for f in site.rglob("*"):
        name = f.name.lower()
        if f.is_file() and (any(name.endswith(s) for s in DATA_SUFFIXES) or name in ("u.data", "ratings.dat")):
            problems.append(f"{f.relative_to(site)}: a data file in the site")
    return problems


def site_size(site: Path) -> int:
    """Bytes of every file under ``site``."""
    return sum(f.stat().st_size for f in site.rglob("*") if f.is_file())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m labkit.course.book", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare", help="write the site's sources from a `make run`")
    p.add_argument("--build", type=Path, default=Path("build"))
    p.add_argument("--out", type=Path, default=None, help="default: BUILD/book-src")
    p.add_argument("--node-modules", type=Path, default=REPO_ROOT / "labkit/course/book_assets/node_modules")
    a = sub.add_parser("assets", help="fetch MathJax and Mermaid from npm (package-lock.json's versions)")
    a.add_argument("folder", type=Path, nargs="?", default=REPO_ROOT / "labkit/course/book_assets")
    c = sub.add_parser("check", help="check a built site")
    c.add_argument("--build", type=Path, default=Path("build"))
    c.add_argument("--site", type=Path, default=None, help="default: BUILD/book")
    args = parser.parse_args(argv)
    try:
        if args.cmd == "assets":
            print("book assets:", ", ".join(fetch_assets(args.folder)))
            return 0
        if args.cmd == "prepare":
            out = args.out or args.build / "book-src"
            lessons = prepare(args.build, out, args.node_modules)
            print(f"book sources in {out}: {len(lessons)} lessons")
            return 0
        site = args.site or args.build / "book"
        listed = json.loads((args.build / "book-src" / "lessons.json").read_text())
        problems = check_site(site, listed["lessons"], listed["exercises"])
        for pr in problems:
            print("book check:", pr, file=sys.stderr)
        n = len(list(site.rglob("*.html")))
        print(f"book check: {n} pages, {site_size(site) / 1e6:.1f} MB, "
              + (f"{len(problems)} problem(s)" if problems else "no problems"))
        return 1 if problems else 0
    except BookError as e:
        print(f"make book: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
