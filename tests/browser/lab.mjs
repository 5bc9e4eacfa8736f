// A student's first hour in JupyterLab, in headless Chromium (make test-browser).
// Starts `make lab` (the project's own command), opens the landing page, lesson 01 on DATASET="synthetic",
// a probe notebook (progress bars, plain `import tensorflow`, record, a labkit error) and a released
// exercise; runs them, saves, reloads and reopens, and checks what a student sees. Screenshots go to
// build/browser/. Exit status 0 when every check passes; each failure is printed.
//
// Usage: node tests/browser/lab.mjs   (from the repository root, after tests/browser/prepare.py)
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const ROOT = process.cwd();
const OUT = process.env.BROWSER_OUT || join(ROOT, 'build', 'browser');
const PORT = process.env.LAB_PORT || String(18000 + Math.floor(Math.random() * 1000));
const TOKEN = 'browser-test-' + Math.random().toString(36).slice(2);
const BASE = `http://127.0.0.1:${PORT}`;
const LAB = 'build/browser/lab';
const MAX_OUTPUTS = 4;   // per cell: a progress display, the printed lines, a record or error, a figure
const failures = [];
const t0 = Date.now();

function log(...args) { console.log(`[${((Date.now() - t0) / 1000).toFixed(0)}s]`, ...args); }
function check(ok, what) {
  log(ok ? 'ok  ' : 'FAIL', what);
  if (!ok) failures.push(what);
}

mkdirSync(OUT, { recursive: true });
const scratch = mkdtempSync(join(tmpdir(), 'lab-browser-'));
const env = { ...process.env };
delete env.LABKIT_BATCH;            // a student's JupyterLab is interactive: progress bars on
const labArgs = [`--no-browser`, `--port=${PORT}`, `--ServerApp.token=${TOKEN}`, `--LabApp.expose_app_in_browser=True`,
  `--LabApp.workspaces_dir=${scratch}/workspaces`, `--LabApp.user_settings_dir=${scratch}/settings`].join(' ');
const server = spawn('make', ['lab', `LAB_ARGS=${labArgs}`], { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
let serverLog = '';
server.stdout.on('data', (d) => { serverLog += d; });
server.stderr.on('data', (d) => { serverLog += d; });

async function waitForServer() {
  for (let i = 0; i < 240; i++) {
    try {
      const r = await fetch(`${BASE}/api/status?token=${TOKEN}`);
      if (r.ok) return;
    } catch { /* not up yet */ }
    if (server.exitCode !== null) throw new Error(`make lab exited (${server.exitCode}):\n${serverLog}`);
    await new Promise((res) => setTimeout(res, 500));
  }
  throw new Error(`JupyterLab did not answer on ${BASE} within 120 s:\n${serverLog}`);
}

async function openNotebook(page, path) {
  await page.evaluate(async (p) => {
    const app = window.jupyterapp;
    const widget = await app.commands.execute('docmanager:open', { path: p, factory: 'Notebook' });
    await widget.context.ready;
    await widget.sessionContext.ready;
    // the kernel's info (language_info) arrives after it is ready: wait for it to be applied
    for (let i = 0; i < 100 && !widget.sessionContext.session?.kernel?.info; i++) await new Promise((r) => setTimeout(r, 100));
    await widget.sessionContext.session.kernel.info;
  }, path);
  await page.waitForTimeout(2000);
}

async function state(page) {
  return page.evaluate(() => {
    const w = window.jupyterapp.shell.currentWidget;
    const cells = [];
    for (const cell of w.content.model.cells) {
      const json = cell.toJSON();
      cells.push({ type: json.cell_type, source: json.source, metadata: json.metadata, outputs: json.outputs || [] });
    }
    const tab = document.querySelector('.lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current');
    return {
      path: w.context.path,
      dirty: w.context.model.dirty,
      dirtyMark: !!(tab && tab.classList.contains('jp-mod-dirty')),
      metadata: w.content.model.toJSON().metadata,
      cells,
      text: w.node.innerText,
      status: w.sessionContext.session?.kernel?.status,
    };
  });
}

async function runAll(page, timeoutS) {
  await page.evaluate(() => window.jupyterapp.commands.execute('notebook:run-all-cells'));
  const start = Date.now();
  let idle = 0;
  await page.waitForTimeout(1500);
  while (Date.now() - start < timeoutS * 1000) {
    const s = await page.evaluate(() => {
      const w = window.jupyterapp.shell.currentWidget;
      const pending = [...w.content.widgets].filter((c) => c.model.type === 'code' && c.promptNode?.textContent.includes('*')).length;
      return { status: w.sessionContext.session?.kernel?.status, pending };
    });
    idle = s.status === 'idle' && s.pending === 0 ? idle + 1 : 0;
    if (idle >= 3) return true;
    await page.waitForTimeout(500);
  }
  return false;
}

async function saveAndClose(page) {
  await page.evaluate(async () => {
    const app = window.jupyterapp;
    await app.commands.execute('docmanager:save');
    const w = app.shell.currentWidget;
    await w.sessionContext.shutdown();
    w.dispose();
  });
}

function outputText(o) {
  const d = o.data || {};
  const t = (v) => (Array.isArray(v) ? v.join('') : v || '');
  return t(o.text) + t(d['text/plain']) + (o.traceback ? o.traceback.join('\n') : '');
}

const TF_NOISE = ['absl::InitializeLog', 'cpu_feature_guard', 'oneDNN custom operations', 'I0000 ', 'E0000 ', 'W0000 '];

function checkOutputs(s, label) {
  const counts = s.cells.filter((c) => c.type === 'code').map((c) => c.outputs.length);
  check(Math.max(0, ...counts) <= MAX_OUTPUTS, `${label}: at most ${MAX_OUTPUTS} outputs per cell (most: ${Math.max(0, ...counts)})`);
  const all = s.cells.flatMap((c) => c.outputs.map(outputText)).join('\n');
  const noise = TF_NOISE.filter((n) => all.includes(n));
  check(noise.length === 0, `${label}: no TensorFlow log lines in the outputs${noise.length ? ' (found ' + noise.join(', ') + ')' : ''}`);
  const widgets = s.cells.flatMap((c) => c.outputs).filter((o) => o.data && o.data['application/vnd.jupyter.widget-view+json']);
  check(widgets.length === 0, `${label}: no widget outputs (they break after a save: "model not found")`);
}

let browser;
let exitCode = 1;
try {
  await waitForServer();
  log(`make lab is up on ${BASE}`);
  browser = await chromium.launchPersistentContext(join(scratch, 'chromium'), {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1400, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  const page = browser.pages()[0] || (await browser.newPage());
  await page.goto(`${BASE}/lab/tree/START_HERE.md?token=${TOKEN}`);   // make lab's default URL
  await page.waitForFunction(() => window.jupyterapp && window.jupyterapp.shell, null, { timeout: 90000 });
  await page.evaluate(() => window.jupyterapp.restored);
  await page.waitForSelector('.jp-RenderedMarkdown', { timeout: 30000 }).catch(() => {});
  await page.waitForTimeout(2000);
  await page.screenshot({ path: join(OUT, '01-landing.png') });

  // 1. what JupyterLab offers: one kernel, no instructor tools
  const specs = await (await fetch(`${BASE}/api/kernelspecs?token=${TOKEN}`)).json();
  check(Object.keys(specs.kernelspecs).join(',') === 'deeprec', `one kernel offered (found: ${Object.keys(specs.kernelspecs).join(', ')})`);
  const landing = await page.evaluate(() => document.body.innerText);
  check(landing.includes('course/release/'), 'the landing page says where the released exercises are');
  for (const word of ['Nbgrader', 'Formgrader', 'Create Assignment', 'Assignment List', 'Courses', 'exchange directory']) {
    check(!landing.includes(word), `no instructor tool or its error on screen: "${word}"`);
  }
  await page.evaluate(() => window.jupyterapp.commands.execute('launcher:create'));
  await page.waitForTimeout(1500);
  const cards = await page.$$eval('.jp-LauncherCard[data-category="Notebook"]', (els) => els.map((e) => e.innerText.trim()));
  check(cards.length === 1, `the launcher offers one notebook kernel (${cards.join(' | ')})`);
  await page.screenshot({ path: join(OUT, '02-launcher.png') });

  // 2. lesson 01: opens clean, runs on synthetic data, survives save and reopen
  await openNotebook(page, `${LAB}/01_data_preparation.ipynb`);
  let s = await state(page);
  check(!s.dirty && !s.dirtyMark, `lesson 01 opens unmodified (dirty=${s.dirty}, tab mark=${s.dirtyMark})`);
  await page.evaluate(() => {
    const w = window.jupyterapp.shell.currentWidget;
    const cell = [...w.content.model.cells].find((c) => (c.getMetadata('tags') || []).includes('parameters'));
    const src = cell.sharedModel.getSource().replace(/^DATASET\s*=.*$/m, 'DATASET = "synthetic"');
    cell.sharedModel.setSource(src);
  });
  check(await runAll(page, 240), 'lesson 01 runs to the end within 240 s');
  s = await state(page);
  const errors01 = s.cells.flatMap((c) => c.outputs).filter((o) => o.output_type === 'error');
  check(errors01.length === 0, `lesson 01 runs without errors${errors01.length ? ': ' + errors01[0].ename + ': ' + errors01[0].evalue : ''}`);
  checkOutputs(s, 'lesson 01');
  await page.screenshot({ path: join(OUT, '03-lesson-run.png') });
  await saveAndClose(page);

  // 3. the probe: progress bars in a training loop, plain `import tensorflow`, record, a labkit error
  await openNotebook(page, `${LAB}/probe.ipynb`);
  s = await state(page);
  check(!s.dirty, 'the probe opens unmodified');
  check(await runAll(page, 240), 'the probe runs within 240 s');
  s = await state(page);
  checkOutputs(s, 'probe');
  const [, train, tf, rec, err] = s.cells;
  check(train.outputs.length <= 2, `two training runs of 30 epochs leave ${train.outputs.length} outputs (a bar and the epoch lines)`);
  const trainText = train.outputs.map(outputText).join('\n');
  check(trainText.includes('run 2 epoch 30/30') && trainText.includes('run 2 epoch 30  loss'), 'the bar and the epoch lines show the last epoch');
  check(tf.outputs.length === 1 && outputText(tf.outputs[0]).startsWith('TensorFlow'), `a plain import tensorflow prints nothing else (${tf.outputs.length} outputs)`);
  const recText = rec.outputs.map(outputText).join('');
  check(!recText.includes('users = 943') && recText.includes('chosen_epochs = 5'), 'record does not repeat a value the cell printed, shows one it did not');
  const error = err.outputs.find((o) => o.output_type === 'error');
  check(error && error.ename === 'DataError' && error.traceback.length <= 4 && outputText(error).includes('To get it, download'),
    `a labkit error is its message in at most 4 lines (${error ? error.traceback.length : 'no error'})`);
  await page.screenshot({ path: join(OUT, '04-probe-run.png') });
  await page.evaluate(() => [...document.querySelectorAll('.jp-Notebook .jp-Cell')].pop().scrollIntoView());
  await page.waitForTimeout(500);
  await page.screenshot({ path: join(OUT, '04b-probe-error.png') });
  await saveAndClose(page);

  // 4. reload the page (autosave or a reopen the next day) and reopen both notebooks
  await page.reload();
  await page.waitForFunction(() => window.jupyterapp && window.jupyterapp.shell, null, { timeout: 90000 });
  await page.evaluate(() => window.jupyterapp.restored);
  for (const [name, path] of [['lesson 01', `${LAB}/01_data_preparation.ipynb`], ['probe', `${LAB}/probe.ipynb`]]) {
    await openNotebook(page, path);
    await page.waitForTimeout(1500);
    s = await state(page);
    check(!s.text.includes('Error displaying widget') && !s.text.includes('model not found') && !s.text.includes('Loading widget'),
      `${name} after reopening: no broken widget outputs`);
    check(!s.dirty, `${name} reopens unmodified`);
    checkOutputs(s, `${name} reopened`);
    await page.screenshot({ path: join(OUT, name === 'probe' ? '06-probe-reopened.png' : '05-lesson-reopened.png') });
    if (name === 'probe') {
      await page.evaluate(() => [...document.querySelectorAll('.jp-Notebook .jp-Cell')][2].scrollIntoView());
      await page.waitForTimeout(500);
      await page.screenshot({ path: join(OUT, '06b-probe-reopened-tf-record.png') });
    }
    await page.evaluate(async () => { const w = window.jupyterapp.shell.currentWidget; await w.sessionContext.shutdown(); w.dispose(); });
  }

  // 5. a released exercise: opens clean, locked cells marked and read-only
  await openNotebook(page, `${LAB}/release/01_leave_last_out/01_leave_last_out.ipynb`);
  s = await state(page);
  check(!s.dirty && !s.dirtyMark, `the released exercise opens unmodified (dirty=${s.dirty})`);
  const locked = s.cells.map((c, i) => ({ c, i })).filter(({ c }) => c.metadata?.nbgrader?.locked);
  check(locked.length > 0 && locked.every(({ c }) => c.metadata.editable === false), `locked cells are read-only (${locked.length} locked)`);
  const marked = ({ c, i }) => /^#\s*LOCKED/i.test(c.source) || (i > 0 && s.cells[i - 1].type === 'markdown' && /locked/i.test(s.cells[i - 1].source));
  const unmarked = locked.filter((x) => !marked(x)).map(({ i }) => i);
  check(unmarked.length === 0, `locked cells are marked in the cell ("# LOCKED" first line or a note above); unmarked: cells ${unmarked.join(', ')}`);
  const readOnlyClass = await page.evaluate(() => [...window.jupyterapp.shell.currentWidget.content.widgets].filter((c) => c.readOnly).length);
  check(readOnlyClass === locked.length, `JupyterLab shows ${readOnlyClass} of ${locked.length} locked cells as read-only`);
  const ran = await runAll(page, 120);
  check(ran, 'the released exercise runs (to its first unanswered task) within 120 s');
  s = await state(page);
  checkOutputs(s, 'exercise');
  await page.screenshot({ path: join(OUT, '07-exercise.png'), fullPage: false });
  exitCode = failures.length ? 1 : 0;
} catch (err) {
  console.error(err);
  if (browser) await browser.pages()[0]?.screenshot({ path: join(OUT, 'failure.png') }).catch(() => {});
  failures.push(String(err));
} finally {
  if (browser) await browser.close().catch(() => {});
  try { process.kill(-server.pid, 'SIGTERM'); } catch { /* gone */ }
  rmSync(scratch, { recursive: true, force: true });
  log(failures.length ? `${failures.length} check(s) failed:\n  - ${failures.join('\n  - ')}` : 'all checks passed');
  log(`screenshots in ${OUT}`);
  process.exit(failures.length ? 1 : exitCode);
}
