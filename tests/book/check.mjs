// The course website in a real browser (make book-test): node tests/book/check.mjs SITE SHOTS [BUILD]
// Serves SITE (build/book) with `python3 -m http.server` on 127.0.0.1, opens it in headless Chromium
// ($CHROMIUM, default /usr/bin/chromium) and fails unless
//   - every lesson of notebooks/ has its page, with as many figures as its executed notebook
//     (BUILD/full/*.ipynb) has images, each loaded (naturalWidth > 0);
//   - every equation on it is typeset by MathJax (an mjx-container in each .math element), and
//     lessons whose notebook has $...$ math show some; every Mermaid diagram is drawn (an svg);
//   - every page shows the banner of the run; no request leaves 127.0.0.1, none fails, no script error;
//   - every exercise page shows the tasks without solutions; the report's figure loads;
//   - the search page finds "Caser" and links to lesson 05.
// Screenshots go to SHOTS (build/book-shots).
import { chromium } from "playwright-core";
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const site = path.resolve(process.argv[2] || path.join(repo, "build", "book"));
const shots = path.resolve(process.argv[3] || path.join(repo, "build", "book-shots"));
const build = path.resolve(process.argv[4] || path.dirname(site));
const problems = [];
const fail = (msg) => { problems.push(msg); console.error("book browser check: " + msg); };

if (!fs.existsSync(path.join(site, "index.html"))) {
  console.error(`book browser check: ${site}/index.html missing: run make book first`);
  process.exit(1);
}
fs.mkdirSync(shots, { recursive: true });
const lessons = fs.readdirSync(path.join(repo, "notebooks")).filter((f) => /^\d.*\.ipynb$/.test(f)).sort()
  .map((f) => f.replace(/\.ipynb$/, ""));

// what each executed notebook holds: images, and whether its Markdown has $ math or a Mermaid diagram
function expected(stem) {
  const executed = path.join(build, "full", stem + ".ipynb");
  // a lesson the run skipped (MXNet on a Mac) is shown as code only
  const nb = JSON.parse(fs.readFileSync(fs.existsSync(executed) ? executed : path.join(repo, "notebooks", stem + ".ipynb"), "utf8"));
  let images = 0, math = false, mermaid = false;
  for (const cell of nb.cells) {
    const src = Array.isArray(cell.source) ? cell.source.join("") : cell.source;
    if (cell.cell_type === "markdown") {
      math ||= /\$[^$\s][^$]*\$/.test(src);
      mermaid ||= src.includes("```mermaid");
    }
    for (const out of cell.outputs || []) if (out.data && out.data["image/png"]) images++;
  }
  return { images, math, mermaid };
}

// serve the site
const server = spawn(process.env.PYTHON || "python3", ["-u", "-m", "http.server", "0", "--bind", "127.0.0.1",
  "--directory", site], { stdio: ["ignore", "pipe", "pipe"] });
const port = await new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error("http.server did not start in 20 s")), 20000);
  server.stdout.on("data", (d) => {
    const m = /port (\d+)/.exec(String(d));
    if (m) { clearTimeout(timer); resolve(Number(m[1])); }
  });
  server.on("exit", (code) => reject(new Error(`http.server exited (${code})`)));
});
server.stderr.resume();
const base = `http://127.0.0.1:${port}/`;

const profile = fs.mkdtempSync(path.join(os.tmpdir(), "book-chromium-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  viewport: { width: 1280, height: 900 },
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
await context.route("**/*", (route) => {
  const url = new URL(route.request().url());
  if (url.hostname === "127.0.0.1" || url.protocol === "data:" || url.protocol === "blob:") return route.continue();
  fail(`${route.request().frame().url()} requested ${url.href} (the site must work offline)`);
  return route.abort();
});

async function open(rel) {
  const page = await context.newPage();
  page.on("pageerror", (e) => fail(`${rel}: script error ${e.message}`));
  page.on("console", (m) => { if (m.type() === "error") fail(`${rel}: console error ${m.text()}`); });
  page.on("response", (r) => { if (r.status() >= 400) fail(`${rel}: ${r.url()} answered ${r.status()}`); });
  await page.goto(base + rel, { waitUntil: "load" });
  if (!(await page.locator("#run-banner").first().isVisible())) fail(`${rel}: no banner of the run`);
  return page;
}

async function typeset(page) {
  // Sphinx adds MathJax (with `defer`) to pages with math only; wait for its start-up promise, then
  // for typesetting to finish
  if (!(await page.locator("main .math").count())) return;
  try {
    await page.waitForFunction(() => window.MathJax && window.MathJax.startup && window.MathJax.startup.promise,
      null, { timeout: 30000 });
    await page.evaluate(() => window.MathJax.startup.promise);
  } catch (e) {
    fail(`${page.url().replace(base, "")}: MathJax did not start within 30 s (${e.message.split("\n")[0]})`);
  }
}

try {
  const index = await open("index.html");
  await index.screenshot({ path: path.join(shots, "index.png") });
  await index.close();

  for (const stem of lessons) {
    const rel = `notebooks/${stem}.html`;
    if (!fs.existsSync(path.join(site, rel))) { fail(`lesson ${stem} has no page`); continue; }
    const want = expected(stem);
    const page = await open(rel);
    await typeset(page);
    const got = await page.evaluate(async () => {
      const imgs = [...document.querySelectorAll("main img")];
      await Promise.all(imgs.map((i) => i.decode().catch(() => null)));
      const outputs = [...document.querySelectorAll("main .cell_output img")];
      const maths = [...document.querySelectorAll("main .math")];
      const mermaids = [...document.querySelectorAll("main .mermaid")];
      return {
        broken: imgs.filter((i) => !(i.complete && i.naturalWidth > 0)).map((i) => i.getAttribute("src")),
        figures: outputs.filter((i) => i.complete && i.naturalWidth > 0).length,
        maths: maths.length,
        untypeset: maths.filter((m) => !m.querySelector("mjx-container")).map((m) => m.textContent.slice(0, 60)),
        mjx: document.querySelectorAll("main mjx-container").length,
        mermaids: mermaids.length,
      };
    });
    if (want.mermaid && got.mermaids) {
      await page.waitForFunction(() => [...document.querySelectorAll("main .mermaid")].every((m) => m.querySelector("svg")),
        null, { timeout: 30000 }).catch(() => fail(`${rel}: a Mermaid diagram was not drawn`));
    } else if (want.mermaid) fail(`${rel}: the notebook has a Mermaid diagram, the page none`);
    for (const src of got.broken) fail(`${rel}: image ${src} not loaded`);
    if (got.figures !== want.images) fail(`${rel}: ${got.figures} figures shown, the executed notebook has ${want.images}`);
    for (const m of got.untypeset) fail(`${rel}: equation not typeset: ${m}`);
    if (want.math && got.mjx === 0) fail(`${rel}: the notebook has equations, MathJax typeset none`);
    console.log(`book browser check: ${stem}: ${got.figures} figures, ${got.mjx} equations typeset, ` +
      `${got.mermaids} diagrams`);
    await page.screenshot({ path: path.join(shots, `${stem}.png`) });
    const first = async (sel, name) => {
      const el = page.locator(sel).first();
      if (await el.count()) {
        await el.scrollIntoViewIfNeeded();
        await page.screenshot({ path: path.join(shots, `${stem}-${name}.png`) });
      }
    };
    await first("main .cell_output img", "figure");
    await first("main mjx-container", "equation");
    await first("main .mermaid svg", "diagram");
    await first("main .cell_output table", "table");
    await page.close();
  }

  // the exercises as released (no solutions), the report and the references
  const exercises = fs.readdirSync(path.join(site, "exercises")).filter((f) => /^\d.*\.html$/.test(f)).sort();
  if (!exercises.length) fail("no exercise pages");
  for (const f of exercises) {
    const page = await open(`exercises/${f}`);
    const text = await page.locator("main").innerText();
    if (/BEGIN (SOLUTION|HIDDEN TESTS)/.test(text)) fail(`exercises/${f}: solution markup shown`);
    if (!text.includes("raise NotImplementedError()")) fail(`exercises/${f}: no task left for the student`);
    if (f === exercises[0]) await page.screenshot({ path: path.join(shots, "exercise.png") });
    await page.close();
  }
  for (const rel of ["report.html", "references.html"]) {
    const page = await open(rel);
    await page.screenshot({ path: path.join(shots, rel.replace(".html", ".png")), fullPage: rel === "report.html" });
    const broken = await page.evaluate(() => [...document.querySelectorAll("main img")]
      .filter((i) => !(i.complete && i.naturalWidth > 0)).map((i) => i.getAttribute("src")));
    for (const src of broken) fail(`${rel}: image ${src} not loaded`);
    await page.close();
  }

  const search = await open("search.html?q=Caser");
  const hits = search.locator("#search-results ul.search li");
  await hits.first().waitFor({ timeout: 30000 }).catch(() => null);
  const links = await search.locator("#search-results ul.search li a").evaluateAll((as) => as.map((a) => a.getAttribute("href")));
  console.log(`book browser check: search "Caser": ${links.length} results`);
  if (!links.some((h) => h && h.includes("05_caser"))) fail(`search for "Caser" does not find lesson 05 (${links.length} results)`);
  await search.screenshot({ path: path.join(shots, "search.png") });
  await search.close();
} catch (e) {
  fail(`stopped: ${e.message}`);
} finally {
  await context.close();
  server.kill();
  fs.rmSync(profile, { recursive: true, force: true });
}
console.log(`book browser check: ${lessons.length} lessons, screenshots in ${shots}: ` +
  (problems.length ? `${problems.length} problem(s)` : "no problems"));
process.exit(problems.length ? 1 : 0);
