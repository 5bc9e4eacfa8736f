"""The website builder's parts (labkit/course/book.py), without Sphinx or a `make run`: the landing
page's sources, link rewriting, the exercises' release, and the checks of a built site on tiny fake
sites. `make book-test` builds the real site and opens it in a browser."""

import json
import re
from pathlib import Path

import nbformat
import pytest

from labkit.course import book

REPO = Path(__file__).resolve().parent.parent
BANNER = f'<span id="{book.BANNER_ID}">run</span>'


def page(body: str, banner: bool = True) -> str:
    return f"<html><body>{BANNER if banner else ''}<main>{body}</main></body></html>"


def fake_site(tmp_path: Path, index_body: str = "", **pages: str) -> Path:
    site = tmp_path / "site"
    (site / "notebooks").mkdir(parents=True)
    nav = "".join(f'<a href="notebooks/{s}.html">{s}</a>' for s in ("01_a", "02_b"))
    (site / "index.html").write_text(page(nav + index_body))
    for s in ("01_a", "02_b"):
        (site / "notebooks" / f"{s}.html").write_text(page(f'<h1 id="top">{s}</h1><a href="../index.html">up</a>'))
    for name, text in pages.items():
        (site / name.replace("__", "/")).write_text(text)
    return site


def test_readme_has_the_landing_pages_sections():
    intro, sections = book.readme_sections((REPO / "README.md").read_text(), book.README_SECTIONS)
    assert intro.startswith("# ") and len(intro.splitlines()) > 3
    assert all(sections[n].startswith(f"## {n}") for n in book.README_SECTIONS)
    with pytest.raises(book.BookError, match="no section"):
        book.readme_sections("# T\n## A\n", ["A", "B"])


def test_readme_links_resolve_in_the_site_or_become_text():
    pages = {f"notebooks/{p.name}": f"notebooks/{p.name}" for p in (REPO / "notebooks").glob("[0-9]*.ipynb")}
    pages |= {"exercises/README.md": "exercises/README.md"}
    readme = (REPO / "README.md").read_text()
    out = book.anchors_to(book.fix_links(readme, "README.md", "index.md", pages), readme, "References", "references.md")
    headings = {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in re.findall(r"^#+ (.*)$", readme, re.M)}
    for bang, text, target in book.LINK.findall(out):
        if target.startswith("#"):   # an anchor of the landing page itself
            assert target[1:] in headings, target
            continue
        assert re.match(r"^[a-z]+:", target) or target.split("#")[0] in {*pages.values(), "references.md"}, target
    assert "(notebooks/01_data_preparation.ipynb)" in out
    assert book.fix_links("[r](full/08.ipynb#x)", "build/report.md", "report.md",
                          {"build/full/08.ipynb": "notebooks/08.ipynb"}) == "[r](notebooks/08.ipynb#x)"
    with pytest.raises(book.BookError, match="image"):
        book.fix_links("![f](missing.png)", "README.md", "index.md", {})


@pytest.mark.integration   # importing nbgrader takes 5-25 s here; make book-test runs it
def test_exercises_are_released_without_solutions():
    for path in sorted((REPO / "exercises").glob("[0-9]*.ipynb")):
        source = nbformat.read(path, as_version=4)
        assert any("BEGIN SOLUTION" in c.source for c in source.cells), path.name
        released = book.release_exercise(source)
        text = "".join(c.source for c in released.cells)
        assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text, path.name
        assert "MARK SCHEME" not in text and "For instructors" not in text, path.name   # the "Think about it" answers
        assert "raise NotImplementedError()" in text, path.name


def test_cell_ids_are_unique_across_notebooks():
    ids = []
    for i, path in enumerate(sorted((REPO / "notebooks").glob("[0-9]*.ipynb"))):
        nb = book.tidy_cells(nbformat.read(path, as_version=4), f"nb{path.stem.split('_')[0]}")
        ids += [c.id for c in nb.cells]
    assert len(ids) == len(set(ids))


def test_conf_serves_mathjax_and_mermaid_locally():
    facts = {"generated": "2026-01-01 00:00:00", "commit": "abc", "dirty": False, "datasets": ["ml-100k"],
             "by_notebook": {}}
    ns: dict = {}
    exec(book.conf_py(facts, ["01_a"], True), ns)
    assert ns["nb_execution_mode"] == "off" and ns["nitpicky"]
    assert not re.match(r"https?:|//", ns["mathjax_path"]) and not re.match(r"https?:|//", ns["mermaid_use_local"])
    assert book.BANNER_ID in ns["html_theme_options"]["announcement"]


def test_run_facts_need_a_report(tmp_path):
    with pytest.raises(book.BookError, match="make run"):
        book.run_facts(tmp_path)
    (tmp_path / "report.json").write_text(json.dumps(
        {"generated": "2026-01-01 00:00:00", "commit": "abc", "notebooks": [{"notebook": "01_a", "dataset": "ml-100k"}]}))
    facts = book.run_facts(tmp_path)
    assert (facts["commit"], facts["datasets"]) == ("abc", ["ml-100k"])
    assert "make run of 2026-01-01 00:00:00" in book.banner_html(facts).replace("<code>", "").replace("</code>", "")


def test_a_good_fake_site_passes(tmp_path):
    assert book.check_site(fake_site(tmp_path), ["01_a", "02_b"]) == []


@pytest.mark.parametrize("index_body, extra, problem", [
    ('<a href="notebooks/03_c.html">x</a>', {}, "broken link"),
    ('<a href="notebooks/01_a.html#nowhere">x</a>', {}, "broken anchor"),
    ('<a href="../../outside.html">x</a>', {}, "outside the site"),
    ('<script src="https://cdn.example.org/x.js"></script>', {}, "another host"),
    ('<link rel="stylesheet" href="//cdn.example.org/x.css">', {}, "another host"),
    ('<script type="module">import m from "https://cdn.example.org/m.mjs";</script>', {}, "another host"),
    ("", {"s.css": "a { background: url(https://x.org/i.png) }"}, "another host"),
    ("", {"ratings.csv": "1,2,3"}, "data file"),
    ("", {"nobanner.html": page("", banner=False)}, "no banner"),
    ("<pre>" + "\n".join(f"{u} {u + 10} 4 88125{u:04d}" for u in range(21)) + "</pre>", {}, "MovieLens rows"),
    ("<table>" + "".join(f"<tr><td>{u}</td><td>{u + 7}</td><td>3</td><td>97830{u:04d}</td></tr>"
                         for u in range(25)) + "</table>", {}, "MovieLens rows"),
    ("<pre>" + "\n".join(f"['Movie {i} (1995)', 'Comedy']" for i in range(book.MAX_TITLE_LINES + 1)) + "</pre>", {},
     "movie titles"),
])
def test_the_site_check_catches(tmp_path, index_body, extra, problem):
    problems = book.check_site(fake_site(tmp_path, index_body, **extra), ["01_a", "02_b"])
    assert any(problem in p for p in problems), problems


def test_an_answer_is_caught_on_an_exercise_page_but_the_readme_may_explain_the_markup(tmp_path):
    markup = page("<h2>For instructors: commands</h2><p>=== BEGIN MARK SCHEME ===</p>")
    site = fake_site(tmp_path)
    (site / "exercises").mkdir()
    (site / "exercises" / "README.html").write_text(markup)
    assert book.check_site(site, ["01_a", "02_b"]) == []
    (site / "exercises" / "01_x.html").write_text(markup)
    assert any("exercises/01_x.html: solution markup" in p for p in book.check_site(site, ["01_a", "02_b"]))


def test_a_few_example_rows_are_allowed(tmp_path):
    rows = "<pre>" + "\n".join(f"{u} {u + 10} 4 88125{u:04d}" for u in range(book.MAX_DATA_ROWS)) + "</pre>"
    assert book.check_site(fake_site(tmp_path, rows), ["01_a", "02_b"]) == []


def test_a_missing_or_misplaced_lesson_is_caught(tmp_path):
    site = fake_site(tmp_path)
    assert any("03_c missing" in p for p in book.check_site(site, ["01_a", "02_b", "03_c"]))
    (site / "index.html").write_text(page('<a href="notebooks/02_b.html">b</a><a href="notebooks/01_a.html">a</a>'))
    assert any("not in order" in p for p in book.check_site(site, ["01_a", "02_b"]))


@pytest.mark.integration   # nbgrader's import (5-25 s here); make book-test runs it
def test_prepare_writes_the_sources_of_the_site(tmp_path):
    """prepare() on a fake run: every lesson executed but 04, which the run skipped."""
    build, mods = tmp_path / "build", tmp_path / "node_modules"
    (build / "full").mkdir(parents=True)
    for f in ["mathjax/es5/tex-mml-chtml.js", "mermaid/dist/mermaid.esm.min.mjs",
              "mermaid/dist/chunks/mermaid.esm.min/a.mjs"]:
        (mods / f).parent.mkdir(parents=True, exist_ok=True)
        (mods / f).write_text("//")
    lessons = sorted(p.stem for p in (REPO / "notebooks").glob("[0-9]*.ipynb"))
    for s in lessons:
        if s.startswith("04"):
            continue
        nb = nbformat.read(REPO / "notebooks" / f"{s}.ipynb", as_version=4)
        nb.metadata["papermill"] = {"start_time": "2026-01-01T10:00:00", "duration": 12.0, "exception": False}
        nb.cells[-1].outputs = [nbformat.v4.new_output("display_data", {"text/plain": "x = 1",
                                                                        book.RECORD_MIME: {"name": "x"}})] \
            if nb.cells[-1].cell_type == "code" else []
        nbformat.write(nb, build / "full" / f"{s}.ipynb")
    (build / "report.md").write_text("# Reproduction report\n\nSee [08](full/08_comparison.ipynb).\n")
    (build / "report.json").write_text(json.dumps({"generated": "2026-01-01 10:30:00", "notebooks": [
        {"notebook": s, "dataset": "ml-100k", "status": "ok"} for s in lessons if not s.startswith("04")] + [
        {"notebook": next(s for s in lessons if s.startswith("04")), "dataset": None, "status": "skipped: x",
         "skipped": "MXNet is missing"}]}))
    out = tmp_path / "src"
    assert book.prepare(build, out, mods) == lessons
    index = (out / "index.md").read_text()
    assert [index.index(f"notebooks/{s}\n") for s in lessons] == sorted(index.index(f"notebooks/{s}\n") for s in lessons)
    assert "(notebooks/08_comparison.ipynb)" in (out / "report.md").read_text()
    ids = []
    for s in lessons:
        nb = nbformat.read(out / "notebooks" / f"{s}.ipynb", as_version=4)
        ids += [c.id for c in nb.cells]
        assert not any(book.RECORD_MIME in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))
        assert ("This lesson was skipped by the" in nb.cells[0].source) == s.startswith("04")
        assert "its code is that of" in nb.cells[0].source or s.startswith("04")
    assert len(ids) == len(set(ids))
    for p in (out / "exercises").glob("*.ipynb"):
        assert "BEGIN SOLUTION" not in p.read_text() and "MARK SCHEME" not in p.read_text()
    assert (out / "_static" / "mathjax" / "tex-mml-chtml.js").is_file()
    ns: dict = {}
    exec((out / "conf.py").read_text(), ns)
    assert "2026-01-01 10:30:00" in ns["html_theme_options"]["announcement"]
