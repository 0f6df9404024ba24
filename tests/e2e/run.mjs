// End-to-end test of the web UI against a real `hone serve`: headless Chromium (Debian's,
// driven by playwright-core) does what an expert does — project, prompts, candidates, one
// judgment of each kind by keyboard (one on a key rebound in Settings, in the dark theme), a
// fine-tune, the new version, an arena round, an export, the project's settings edited, a gold
// item, a second annotator judging with and without the AI suggestion of a reward model (and
// of a judge model chosen under "Suggest with"), promotion and a retrain without that annotator
// — and every step is checked through the API (and the SQLite file when sqlite3 is installed).
//
//   npm run build && npm run test:e2e
//
// HONE_BIN (default /var/tmp/hone-target/release/hone), CHROMIUM (default /usr/bin/chromium),
// HONE_E2E_KEEP=1 keeps the temporary workspace. Screenshots go to tests/e2e/artifacts/.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { api, check, Failure, freePort, JOB_TIMEOUT, jobResult, logger, sqliteCount, waitForHealth } from './lib.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const HONE_BIN = process.env.HONE_BIN ?? '/var/tmp/hone-target/release/hone';
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const UI_DIST = join(root, 'ui/dist');
const ARTIFACTS = join(root, 'tests/e2e/artifacts');
const STEP_TIMEOUT = 30_000;

const log = logger('e2e');

async function main() {
  check(existsSync(HONE_BIN), `HONE_BIN ${HONE_BIN} does not exist: build hone (cargo build --release) or set HONE_BIN`);
  check(existsSync(CHROMIUM), `${CHROMIUM} does not exist: apt-get install chromium, or set CHROMIUM`);
  check(existsSync(join(UI_DIST, 'index.html')), `${UI_DIST}/index.html does not exist: run npm run build first`);
  mkdirSync(ARTIFACTS, { recursive: true });
  for (const f of readdirSync(ARTIFACTS)) if (f.startsWith('failure-')) rmSync(join(ARTIFACTS, f));

  const tmp = mkdtempSync(join(tmpdir(), 'hone-e2e-'));
  const workspace = join(tmp, 'workspace');
  const tiny = join(tmp, 'tiny');
  const exportDir = join(tmp, 'export-peft');
  log('workspace', tmp);
  execFileSync(HONE_BIN, ['model', 'new-tiny', '--out', tiny], { stdio: 'inherit' });
  // The same model as one GGUF file, as LM Studio or Ollama would hold it.
  const tinyGguf = join(dirname(tiny), 'tiny.gguf');
  execFileSync(HONE_BIN, ['model', 'to-gguf', tiny, '--out', tinyGguf], { stdio: 'inherit' });

  // Three train and two held-out prompts; the held-out ones are for the arena.
  const promptsFile = join(tmp, 'prompts.jsonl');
  const prompts = [
    { prompt: 'How do I reset my password?', tags: ['account'] },
    { prompt: 'How do I export my notes as PDF?', tags: ['export'] },
    { prompt: 'How do I share a notebook with a colleague?' },
    { prompt: 'How do I change the app language?', split: 'heldout' },
    { prompt: 'How do I delete my account?', split: 'heldout' },
  ];
  writeFileSync(promptsFile, prompts.map((p) => JSON.stringify(p)).join('\n') + '\n');

  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const server = spawn(HONE_BIN, ['--workspace', workspace, 'serve', '--port', String(port), '--ui', UI_DIST], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let serverLog = '';
  server.stdout.on('data', (d) => (serverLog += d));
  server.stderr.on('data', (d) => (serverLog += d));

  let browser;
  let page;
  let failed = false;
  const pageErrors = [];
  let step = 'start';
  const shot = (name) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });

  try {
    await waitForHealth(base, server, 30_000);
    log('server up at', base);

    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
    const context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
    page = await context.newPage();
    page.setDefaultTimeout(STEP_TIMEOUT);
    page.on('pageerror', (e) => pageErrors.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') pageErrors.push(`console error: ${m.text()}`);
    });
    const byId = (id) => page.getByTestId(id);
    const go = async (hash, screen) => {
      await page.goto(`${base}/#/${hash}`);
      await byId(`screen-${screen}`).waitFor();
    };
    /** Waits for the labeling shell to report the judgment saved. */
    const saved = () => page.waitForSelector('[data-testid="save-status"][data-state="saved"]');
    /** Judges the item on screen with `key`: what was sent, and the judgment id recorded. */
    const judge = async (key) => {
      const [request, answer] = await Promise.all([
        page.waitForRequest((r) => r.url().endsWith('/api/record_feedback')),
        page.waitForResponse((r) => r.url().endsWith('/api/record_feedback')),
        page.keyboard.press(key),
      ]);
      const sent = request.postDataJSON();
      check(answer.ok(), `record_feedback answered ${answer.status()}: ${await answer.text()}`);
      await saved();
      return { sent, id: (await answer.json()).judgment_id };
    };
    /** The labeling screen says why its item came up: "Why this item: …", not empty. */
    const expectReason = async () => {
      const line = ((await byId('label-reason').textContent()) ?? '').trim();
      const reason = line.replace(/^Why this item:\s*/, '');
      check(line.startsWith('Why this item:') && reason.length > 0, `the labeling screen's reason line reads "${line}"`);
      return reason;
    };

    // ---- project ----
    step = 'project';
    await go('projects', 'projects');
    await byId('project-form').waitFor();
    await byId('project-name').fill('e2e-support');
    await byId('project-description').fill('Answers of a notes app help desk');
    await byId('project-rating-min').fill('1');
    await byId('project-rating-max').fill('5');
    await byId('project-criteria').fill('correctness: the right procedure\ntone: polite and calm');
    await byId('project-span-labels').fill('wrong: a wrong step\nrude');
    await byId('project-good-span-labels').fill('right: the right step');
    await byId('project-guidelines').fill('The right procedure first, then a polite tone.');
    await shot('projects');
    await byId('project-create').click();
    await byId('project-page').waitFor();
    const projects = await api(base, 'list_projects');
    const project = projects.find((p) => p.name === 'e2e-support');
    check(project, `the project was not created (list_projects: ${JSON.stringify(projects)})`);
    const labels = (await api(base, 'project_details', { project_id: project.id })).span_labels;
    check(
      JSON.stringify(labels.map((l) => [l.name, l.polarity])) === JSON.stringify([['wrong', 'error'], ['rude', 'error'], ['right', 'good']]),
      `the project's span labels are ${JSON.stringify(labels)}`,
    );
    // A guideline edit is a new version.
    await byId('guidelines-editor').fill('The right procedure first, then a polite tone, then one sentence.');
    await byId('guidelines-save').click();
    await page.getByText('Saved as version 2').waitFor();
    await shot('project');
    await byId('annotator-input').fill('e2e-expert');
    log('project', project.id, 'created; guidelines version 2');

    // ---- the project's settings, edited after its creation ----
    step = 'project-settings';
    check(project.queue_order === 'in_order' && project.gold_rate === 0, `a new project has queue order ${project.queue_order} and gold rate ${project.gold_rate}`);
    await byId('settings-edit').click();
    await byId('settings-form').waitFor();
    await byId('settings-queue-order').selectOption('disagreement');
    await byId('settings-queue-order-explanation').getByText(/disagree/).waitFor();
    // A share above 100% is refused next to its field, without a request.
    const settingsRequests = [];
    const onSettingsRequest = (r) => {
      if (r.url().endsWith('/api/update_project_settings')) settingsRequests.push(r.postDataJSON());
    };
    page.on('request', onSettingsRequest);
    await byId('settings-gold-rate').fill('150');
    await byId('settings-save').click();
    const goldRateError = (await byId('settings-error-gold_percent').textContent()) ?? '';
    check(goldRateError.includes('(project.gold_rate)'), `a gold rate of 150% shows "${goldRateError}", expected a field error on project.gold_rate`);
    check((await byId('settings-gold-rate').getAttribute('aria-invalid')) === 'true', 'the refused gold rate is not marked aria-invalid');
    check(settingsRequests.length === 0, `a gold rate of 150% was sent: ${JSON.stringify(settingsRequests)}`);
    await byId('settings-gold-rate').fill('50');
    await byId('settings-error-gold_percent').waitFor({ state: 'detached' });
    await byId('settings-overlap').fill('2');
    await shot('project-settings');
    await byId('settings-save').click();
    await byId('settings-saved').waitFor();
    page.off('request', onSettingsRequest);
    check(settingsRequests.length === 1 && settingsRequests[0].settings?.gold_rate === 0.5, `update_project_settings was sent ${JSON.stringify(settingsRequests)}`);
    const edited = (await api(base, 'project_details', { project_id: project.id })).project;
    check(
      edited.queue_order === 'disagreement' && edited.gold_rate === 0.5 && edited.overlap === 2 && edited.name === 'e2e-support',
      `after saving the settings project_details holds ${JSON.stringify(edited)}`,
    );
    check(((await byId('settings-queue-order-value').textContent()) ?? '').includes('Disagreement first'), 'the settings table does not show the new queue order');
    check(((await byId('settings-gold-rate-value').textContent()) ?? '').includes('50%'), 'the settings table does not show the new gold rate');
    log('settings: queue order disagreement, gold rate 50%, 2 annotators per item');

    // ---- model ----
    step = 'models';
    await go('models', 'models');
    // The native folder picker is the desktop's: a browser shows no "Browse…".
    check((await byId('model-dir-browse').count()) === 0, 'the Models screen shows a Browse… button in a browser');
    // A GGUF file is taken as a model: imported into the workspace once, its source shown.
    await byId('model-dir').fill(tinyGguf);
    await byId('model-inspect').click();
    await byId('model-gguf-file').waitFor({ timeout: 60_000 });
    const ggufShown = ((await byId('model-gguf-file').textContent()) ?? '').trim();
    check(ggufShown === tinyGguf, `the Models screen shows the GGUF file ${ggufShown}, expected ${tinyGguf}`);
    await shot('model-gguf');
    await byId('model-dir').fill(tiny);
    await byId('model-inspect').click();
    await byId('model-gguf-file').waitFor({ state: 'detached', timeout: 60_000 });
    await byId('model-info').waitFor({ timeout: 60_000 });
    const arch = await byId('model-arch').textContent();
    check(arch?.trim() === 'llama', `inspect_model shows architecture ${arch}, expected llama`);
    const modelDevice = (await byId('model-device').textContent())?.trim() ?? '';
    check(/^cpu \(CPU, \d+ threads\), base weights in f32 — /.test(modelDevice), `the model's device reads ${JSON.stringify(modelDevice)}`);
    // A Hub id that is not owner/name is refused on the page: a field error, no download_model
    // request (the test downloads nothing), no job.
    const downloadRequests = [];
    const onRequest = (r) => {
      if (r.url().includes('/api/download_model')) downloadRequests.push(r.url());
    };
    page.on('request', onRequest);
    await byId('hub-id').fill('SmolLM2 360M Instruct');
    await byId('hub-download').click();
    const hubError = (await byId('hub-id-error').textContent()) ?? '';
    check(/owner\/name/.test(hubError) && hubError.includes('(repo_id)'), `an invalid Hub id shows "${hubError}", expected a field error on repo_id`);
    check((await byId('hub-id').getAttribute('aria-invalid')) === 'true', 'the invalid Hub id input is not marked aria-invalid');
    page.off('request', onRequest);
    check(downloadRequests.length === 0, `an invalid Hub id was sent: ${downloadRequests.join(', ')}`);
    check((await byId('hub-job').count()) === 0, 'an invalid Hub id started a download job');
    await shot('models');

    // ---- prompts: import, split, candidates ----
    step = 'prompts';
    await go('prompts', 'prompts');
    await byId('file-input').setInputFiles(promptsFile);
    await byId('import-report').waitFor();
    check((await byId('prompt-row').count()) === 5, 'the prompt list does not show the 5 imported prompts');
    const listed = await api(base, 'list_prompts', { project_id: project.id, split: 'heldout' });
    check(listed.length === 2, `expected 2 held-out prompts after import, the API lists ${listed.length}`);
    // Move the first prompt to held-out and back through the split selector.
    await byId('prompt-split').first().selectOption('heldout');
    await expectSplitCount(base, project.id, 3);
    await byId('prompt-split').first().selectOption('train');
    await expectSplitCount(base, project.id, 2);

    await byId('gen-model').selectOption({ index: 1 });
    await byId('gen-n').fill('3');
    await byId('gen-temperature').fill('1.2');
    await byId('gen-max-tokens').fill('12');
    await byId('gen-split').selectOption('train');
    await byId('gen-start').click();
    await byId('gen-job').waitFor();
    await byId('gen-job-done').waitFor({ timeout: JOB_TIMEOUT });
    await shot('prompts');
    const stats0 = await api(base, 'project_stats', { project_id: project.id });
    check(stats0.responses >= 6, `generation made ${stats0.responses} responses for 3 prompts × 3, expected at least 6`);
    log('candidates:', stats0.responses, 'responses');

    // ---- settings: the dark theme, and "A is better" moved from 1 to a ----
    step = 'settings';
    const theme = () => page.evaluate(() => document.documentElement.dataset.theme);
    const keyCell = (id) => byId(`shortcut-key-${id}`);
    await page.locator('[data-testid="nav-settings"]').click();
    await byId('screen-settings').waitFor();
    await byId('theme-dark').check();
    check((await theme()) === 'dark', `after choosing Dark, <html data-theme> is ${await theme()}`);
    await byId('shortcut-change-comparison.a').click();
    await keyCell('comparison.a').getByText('Press a key').waitFor();
    await page.keyboard.press('2'); // B's key: refused, nothing changes
    const refused = (await byId('shortcut-error').textContent()) ?? '';
    check(/2 is already “B is better”/.test(refused), `binding A to 2 (B's key) shows "${refused}", expected a conflict naming "B is better"`);
    check((await keyCell('comparison.a').textContent())?.trim() === '1', 'a refused key changed the shortcut of "A is better"');
    await byId('shortcut-change-comparison.a').click();
    await keyCell('comparison.a').getByText('Press a key').waitFor();
    await page.keyboard.press('a');
    await byId('shortcut-notice').getByText('is now a').waitFor();
    check((await byId('shortcut-error').count()) === 0, 'the conflict message stayed after a valid key');
    await shot('settings');
    // Kept (a browser keeps them in localStorage) and applied at startup.
    await page.reload();
    await byId('screen-settings').waitFor();
    check((await theme()) === 'dark', `after a reload <html data-theme> is ${await theme()}, expected dark`);
    check((await keyCell('comparison.a').textContent())?.includes('a'), 'after a reload "A is better" is not on a');
    const stored = await page.evaluate(() => JSON.parse(localStorage.getItem('hone.settings') ?? 'null'));
    check(stored?.theme === 'dark' && stored?.shortcuts?.['comparison.a'] === 'a', `localStorage hone.settings holds ${JSON.stringify(stored)}`);
    log('settings: dark theme, A is better on a');

    // ---- labeling, one judgment of each kind, by keyboard ----
    step = 'label-comparison';
    await go('label/comparison', 'label');
    await byId('answer-a').waitFor();
    const firstReason = await expectReason();
    log('comparison: why this item:', firstReason);
    // The hints show the key in effect.
    const hintA = (await byId('choose-a').locator('kbd').textContent())?.trim();
    check(hintA === 'a', `the "A is better" button shows the key ${hintA}, expected the rebound a`);
    await page.keyboard.press('g'); // the guidelines beside the pair, and away again
    await byId('guidelines-panel').getByText('then one sentence').waitFor();
    await shot('label-comparison');
    await page.keyboard.press('g');
    await byId('guidelines-panel').waitFor({ state: 'detached' });
    await page.keyboard.press('w'); // strength: clearly
    const judged = page.waitForRequest((r) => r.url().endsWith('/api/record_feedback'));
    await page.keyboard.press('a'); // A is better, on its rebound key
    const sent = (await judged).postDataJSON();
    check(sent.kind?.choice === 'a' && sent.kind?.strength === 2, `a sent ${JSON.stringify(sent.kind)}, expected choice a with strength 2`);
    await saved();
    const afterA = await api(base, 'project_stats', { project_id: project.id });
    check(afterA.judgments.comparison === 1, `after judging with a, project_stats counts ${afterA.judgments.comparison ?? 0} comparisons, expected 1`);
    // Undo brings the pair back; judge it again as a tie.
    await page.keyboard.press('u');
    await page.getByText(/^Undone/).waitFor();
    await byId('answer-a').waitFor();
    const tie = await judge('3');
    check(tie.sent.kind?.choice === 'tie' && tie.sent.suggestion_visible === false, `the tie sent ${JSON.stringify(tie.sent)}`);

    // The tie becomes a gold item (the known answer of its pair), is unmarked and marked again.
    step = 'gold';
    await byId('gold-mark').click();
    await byId('gold-marked').waitFor();
    let gold = await api(base, 'gold_items', { project_id: project.id });
    check(
      gold.length === 1 && gold[0].judgment_id === tie.id && gold[0].kind === 'comparison' && gold[0].annotator === 'e2e-expert',
      `after "Mark as gold" on judgment ${tie.id} gold_items gives ${JSON.stringify(gold)}`,
    );
    await shot('gold');
    await byId('gold-unmark').click();
    await byId('gold-mark').waitFor();
    gold = await api(base, 'gold_items', { project_id: project.id });
    check(gold.length === 0, `after "Unmark" gold_items gives ${JSON.stringify(gold)}`);
    await byId('gold-mark').click();
    await byId('gold-marked').waitFor();
    gold = await api(base, 'gold_items', { project_id: project.id });
    check(gold.length === 1 && gold[0].judgment_id === tie.id, `after marking again gold_items gives ${JSON.stringify(gold)}`);
    log('gold item: judgment', tie.id, `(${gold[0].answer})`);

    // Back to the defaults: the other steps (and the arena) use the usual keys.
    step = 'settings-reset';
    await go('settings', 'settings');
    await byId('shortcuts-reset').click();
    await page.waitForFunction(() => document.querySelector('[data-testid="shortcut-key-comparison.a"]')?.textContent?.trim() === '1');
    await byId('theme-system').check();
    check((await theme()) === 'system', `after choosing System, <html data-theme> is ${await theme()}`);
    const reset = await page.evaluate(() => JSON.parse(localStorage.getItem('hone.settings') ?? 'null'));
    check(reset?.theme === 'system' && Object.keys(reset?.shortcuts ?? { x: 1 }).length === 0, `after the reset hone.settings holds ${JSON.stringify(reset)}`);

    step = 'label-ranking';
    await go('label/ranking', 'label');
    const rankable = await Promise.race([
      byId('rank-answer-1').waitFor().then(() => true),
      byId('label-done').waitFor().then(() => false),
    ]);
    check(rankable, 'no prompt has 3 distinct candidates to rank (the tiny model repeated itself)');
    await expectReason();
    await shot('label-ranking');
    await page.keyboard.press('2');
    await page.keyboard.press('1');
    await page.keyboard.press('Enter');
    await saved();

    step = 'label-rating';
    await go('label/rating', 'label');
    await byId('rating-answer').waitFor();
    await expectReason();
    await shot('label-rating');
    await page.keyboard.press('4'); // correctness
    await page.keyboard.press('2'); // tone
    await page.keyboard.press('c'); // critique, then leave the field
    await page.keyboard.type('Polite, but the steps are wrong.');
    await page.keyboard.press('Escape');
    await page.keyboard.press('Enter');
    await saved();

    step = 'label-edit';
    await go('label/edit', 'label');
    await byId('edit-text').waitFor();
    await expectReason();
    await page.keyboard.press('i'); // the editor
    await page.keyboard.press('ControlOrMeta+a');
    await page.keyboard.type('Open Settings, choose Account, then Reset password.');
    await byId('diff-view').locator('ins').first().waitFor();
    await shot('label-edit');
    await page.keyboard.press('Control+Enter');
    await saved();

    step = 'label-span';
    await go('label/span', 'label');
    await byId('span-text').waitFor();
    await expectReason();
    // Select the answer's text as a mouse drag would, then label it with the keyboard.
    const selected = await page.evaluate(() => {
      const el = document.querySelector('[data-testid="span-text"]');
      const range = document.createRange();
      range.selectNodeContents(el);
      const sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
      return sel.toString();
    });
    check(selected.trim().length > 0, 'the answer to mark is empty');
    await page.keyboard.press('1'); // label "wrong"
    await byId('span-marks').locator('li').first().waitFor();
    // The same words marked right too, with the good label (the third): shown with its ✓.
    await page.evaluate(() => {
      const range = document.createRange();
      range.selectNodeContents(document.querySelector('[data-testid="span-text"]'));
      window.getSelection().removeAllRanges();
      window.getSelection().addRange(range);
    });
    await page.keyboard.press('3');
    await byId('span-marks').locator('li').nth(1).waitFor();
    const goodBadge = (await byId('span-marks').locator('li').nth(1).locator('.badge').textContent()).trim();
    check(goodBadge === '✓ right', `the good mark's badge reads ${JSON.stringify(goodBadge)}`);
    await shot('label-span');
    await page.keyboard.press('Enter');
    await saved();

    step = 'label-check';
    const stats = await api(base, 'project_stats', { project_id: project.id });
    for (const kind of ['comparison', 'ranking', 'rating', 'edit', 'span']) {
      check(stats.judgments[kind] === 1, `project_stats counts ${stats.judgments[kind] ?? 0} ${kind} judgments, expected 1 (${JSON.stringify(stats.judgments)})`);
    }
    const db = join(workspace, 'hone.sqlite');
    const rows = sqliteCount(db, "SELECT COUNT(*) FROM judgments j JOIN annotators a ON a.id = j.annotator_id WHERE a.name = 'e2e-expert'");
    check(rows === 5, `the database holds ${rows} judgments by e2e-expert, expected 5`);
    const goodMarks = sqliteCount(db, "SELECT COUNT(*) FROM span_annotations WHERE label = 'right'");
    check(goodMarks === 1, `the database holds ${goodMarks} marks under the good label, expected 1`);
    const critiqued = sqliteCount(db, "SELECT COUNT(*) FROM judgments WHERE critique = 'Polite, but the steps are wrong.'");
    check(critiqued === 1, 'the rating critique is not in the database');
    log('judgments:', JSON.stringify(stats.judgments), `(${rows} rows in SQLite)`);

    // ---- fine-tune ----
    step = 'finetune';
    await go('finetune', 'finetune');
    await byId('plan-stages').locator('tbody tr').first().waitFor({ timeout: 120_000 });
    // The plan names its device and precision (this machine has no GPU: the CPU, in f32).
    const device = await byId('plan-device').textContent();
    check(/^on cpu \(CPU, \d+ threads(, \d+ [MG]iB)?\), base weights in f32$/.test(device.trim()), `the plan's device reads ${JSON.stringify(device)}`);
    // Long enough to cancel mid-way: many SFT epochs (checkpoints every 50 steps).
    await byId('finetune-settings').click();
    // Token-level feedback is the project's setting: kept from here, read back over the API.
    await byId('finetune-token-spans').check();
    await byId('finetune-token-keep').click();
    await page.getByText("kept for this project's fine-tunes").waitFor();
    const tokenLevel = await api(base, 'project_token_level', { project_id: project.id });
    check(tokenLevel.spans === true && tokenLevel.edits === false, `the project's token-level settings are ${JSON.stringify(tokenLevel)}`);
    await byId('finetune-token-spans').uncheck();
    await byId('finetune-sft-epochs').fill('400');
    await byId('finetune-replan').click();
    // The first stage (SFT) now has hundreds of steps.
    await page.waitForFunction(() => Number(document.querySelector('[data-testid="plan-stages"] tbody tr td:nth-child(3)')?.textContent) >= 100, null, { timeout: 60_000 });
    await shot('finetune-plan');
    await byId('finetune-start').click();
    await byId('finetune-run').waitFor();
    await page.waitForFunction(() => {
      const label = document.querySelector('[data-testid="finetune-progress"]')?.textContent ?? '';
      const step = Number(/step (\d+)/.exec(label)?.[1] ?? 0);
      return step >= 60;
    }, null, { timeout: JOB_TIMEOUT });
    await byId('finetune-cancel').click();
    await byId('finetune-run-error').getByText('Cancelled').waitFor({ timeout: 60_000 });
    await shot('finetune-cancelled');
    const resume = page.locator('[data-testid^="finetune-resume-"]').first();
    await resume.waitFor();
    await resume.click();
    await byId('finetune-version').waitFor({ timeout: JOB_TIMEOUT });
    const jobs = await api(base, 'list_jobs', { project_id: project.id });
    check(jobs.length === 1 && jobs[0].state === 'succeeded', `the resumed fine-tune job should have succeeded: ${JSON.stringify(jobs.map((j) => [j.id, j.state]))}`);
    const charts = await page.locator('[data-testid^="chart-"]').count();
    check(charts > 0, 'no training curve was drawn from the job events');
    await shot('finetune');
    const versions = await api(base, 'list_versions', { project_id: project.id });
    check(versions.length === 1 && versions[0].name === 'v1', `expected version v1, list_versions gives ${JSON.stringify(versions.map((v) => v.name))}`);
    log('fine-tune made', versions[0].name, versions[0].method, `(${charts} charts)`);

    // ---- versions and export ----
    step = 'versions';
    await go('versions', 'versions');
    await byId('lineage-version-v1').waitFor();
    await byId('version-details').waitFor();
    await shot('versions');
    await byId('export-open').click();
    await byId('export-format').selectOption('peft');
    check((await byId('export-out-browse').count()) === 0, 'the export dialog shows a Browse… button in a browser');
    await byId('export-out').fill(exportDir);
    await byId('export-submit').click();
    await byId('export-files').waitFor({ timeout: 60_000 });
    await shot('export');
    check(existsSync(join(exportDir, 'adapter_model.safetensors')), `${exportDir} has no adapter_model.safetensors`);
    check(existsSync(join(exportDir, 'adapter_config.json')), `${exportDir} has no adapter_config.json`);
    await byId('export-close').click();

    // ---- trust: evaluation, provenance, annotators ----
    // The tiny model's numbers mean nothing: check that each view is there, not its values.
    step = 'evaluate';
    await byId('evaluate').click();
    await byId('evaluation').waitFor({ timeout: JOB_TIMEOUT });
    await page.waitForSelector('[data-testid="evaluate-job"][data-status="succeeded"]', { timeout: JOB_TIMEOUT });
    check((await byId('evaluation').locator('tr').count()) > 0, 'the evaluation table has no rows');
    const evaluated = (await api(base, 'list_versions', { project_id: project.id }))[0];
    check(evaluated.metrics['eval/report'] !== undefined, 'the evaluation was not stored in the version metrics (eval/report)');
    await shot('evaluation');

    step = 'provenance';
    await byId('provenance-open').click();
    await byId('provenance-annotator-e2e-expert').waitFor();
    check(((await byId('provenance-chain').textContent()) ?? '').includes('v1'), 'the provenance chain does not start at v1');

    step = 'annotators';
    await page.click('[data-testid="nav-annotators"]');
    await byId('screen-annotators').waitFor();
    await byId('annotator-row-e2e-expert').waitFor();
    await byId('annotator-group').waitFor();
    log('trust views: evaluation stored, provenance and annotator report list e2e-expert');

    // ---- arena ----
    step = 'arena';
    await go('versions/arena', 'arena');
    await byId('arena-a').selectOption(`version:${versions[0].id}`);
    await byId('arena-b').selectOption(`base:${tiny}`);
    await byId('arena-start').click();
    await byId('arena-left').waitFor({ timeout: 120_000 });
    await shot('arena-round');
    const before = (await api(base, 'project_stats', { project_id: project.id })).judgments.comparison ?? 0;
    await page.keyboard.press('1');
    await byId('arena-revealed').waitFor();
    await byId('arena-results').waitFor();
    // Left and right are drawn at random: the pick is a win for v1 only when v1 was on the left.
    const revealed = (await byId('arena-revealed').textContent()) ?? '';
    const expected = /Left was v1/.test(revealed) ? '100%' : '0%';
    const rate = (await byId('arena-winrate').textContent())?.trim();
    check(rate === expected, `after one round ("${revealed}", left picked) the arena shows win-rate ${rate}, expected ${expected}`);
    const after = (await api(base, 'project_stats', { project_id: project.id })).judgments.comparison ?? 0;
    check(after === before + 1, `the arena pick was not recorded as a comparison (${before} → ${after})`);
    await shot('arena');

    // ---- a second annotator, a reward model, and its suggestion shown and hidden ----
    step = 'second-annotator';
    await byId('annotator-input').fill('e2e-second');
    await byId('annotator-input').blur(); // the labeling keys must not type into the name
    await go('label/comparison', 'label');
    await byId('answer-a').waitFor();
    await expectReason();
    check(!(await byId('suggestion-toggle').isChecked()), 'the AI suggestion is on before it was asked for');
    check((await byId('suggestion-box').count()) === 0, 'an AI suggestion is shown with the switch off');
    const hidden1 = await judge('1');
    check(hidden1.sent.annotator === 'e2e-second' && hidden1.sent.suggestion_visible === false, `the second annotator sent ${JSON.stringify(hidden1.sent)}`);

    step = 'reward-model';
    const rmRecipe = await api(base, 'default_recipe', { method: 'rm', model_dir: tiny });
    const rmJob = await api(base, 'start_fine_tune', { project_id: project.id, recipe: rmRecipe });
    const rmOutcome = await jobResult(base, rmJob.job_id);
    const rm = rmOutcome.version;
    check(rm?.method === 'rm', `the reward-model fine-tune made ${JSON.stringify(rm?.method)}`);
    log('reward model', rm.name, 'trained');

    step = 'label-suggestion';
    // A new page load: the switch starts off again, and nothing is asked before it is turned on.
    const suggestionRequests = [];
    const onSuggestionRequest = (r) => {
      if (r.url().endsWith('/api/suggestion')) suggestionRequests.push(r.url());
    };
    page.on('request', onSuggestionRequest);
    await page.reload();
    await byId('screen-label').waitFor();
    await byId('answer-a').waitFor();
    check(!(await byId('suggestion-toggle').isChecked()), 'after a reload the AI suggestion is on');
    check(suggestionRequests.length === 0, 'the suggestion was asked for before the switch was turned on');
    page.off('request', onSuggestionRequest);
    const asked = page.waitForRequest((r) => r.url().endsWith('/api/suggestion'));
    await byId('suggestion-toggle').check();
    const askedFor = (await asked).postDataJSON();
    await byId('suggestion-text').waitFor();
    const suggestionLine = ((await byId('suggestion-text').textContent()) ?? '').trim();
    check(
      new RegExp(`^Reward model ${rm.name} (prefers [AB]|has no preference) \\(-?\\d`).test(suggestionLine),
      `the suggestion reads "${suggestionLine}", expected "Reward model ${rm.name} prefers A or B (scores)"`,
    );
    // Shown, never chosen: no answer is pre-selected or highlighted.
    const pressed = await page.locator('[data-testid^="choose-"][aria-pressed="true"], [data-testid^="choose-"].selected').count();
    check(pressed === 0, 'a choice is highlighted while the suggestion is shown');
    await shot('label-suggestion');
    const shownJudgment = await judge('1');
    check(shownJudgment.sent.suggestion_visible === true, `a verdict with the suggestion on screen sent suggestion_visible ${shownJudgment.sent.suggestion_visible}`);
    check(
      shownJudgment.sent.shown_order.includes(shownJudgment.sent.suggested_response_id),
      `a verdict with the suggestion on screen sent the answer it preferred, got ${shownJudgment.sent.suggested_response_id}`,
    );
    check(hidden1.sent.suggested_response_id === undefined, `a verdict without the suggestion sent suggested_response_id ${hidden1.sent.suggested_response_id}`);
    check(
      JSON.stringify(askedFor.response_ids) === JSON.stringify(shownJudgment.sent.shown_order),
      `the suggestion was asked for ${JSON.stringify(askedFor.response_ids)}, the answers were shown as ${JSON.stringify(shownJudgment.sent.shown_order)}`,
    );
    // The switch stays on for the next item; turned off, the next verdict is recorded as without.
    await byId('suggestion-text').waitFor();

    // "Suggest with" a judge model, the tiny model folder: asked again for the item on screen,
    // its probabilities shown as percents; then back to the latest reward model.
    step = 'label-judge';
    const suggestionLineOf = async () => ((await byId('suggestion-text').textContent()) ?? '').trim();
    const waitForSuggestion = (prefix) =>
      page.waitForFunction(
        (p) => (document.querySelector('[data-testid="suggestion-text"]')?.textContent ?? '').trim().startsWith(p),
        prefix,
        { timeout: 60_000 },
      );
    check((await byId('suggestion-source').inputValue()) === '', `"Suggest with" starts on ${await byId('suggestion-source').inputValue()}, expected the latest reward model`);
    const judgeAsked = page.waitForRequest((r) => r.url().endsWith('/api/suggestion') && r.postDataJSON()?.judge !== undefined);
    await byId('suggestion-source').selectOption(`base:${tiny}`);
    const judgeArgs = (await judgeAsked).postDataJSON();
    check(judgeArgs.judge?.kind === 'base' && judgeArgs.judge?.dir === tiny, `the judge's suggestion was asked with ${JSON.stringify(judgeArgs)}`);
    await waitForSuggestion('Judge');
    const judgeLine = await suggestionLineOf();
    check(
      /^Judge tiny (prefers [AB]|has no preference) \(\d{1,3}% vs \d{1,3}%\)$/.test(judgeLine),
      `the judge's suggestion reads "${judgeLine}", expected "Judge tiny prefers A or B (x% vs y%)"`,
    );
    check(await byId('suggestion-toggle').isChecked(), 'choosing a judge turned the AI suggestion off');
    const pressedByJudge = await page.locator('[data-testid^="choose-"][aria-pressed="true"], [data-testid^="choose-"].selected').count();
    check(pressedByJudge === 0, "a choice is highlighted while the judge's suggestion is shown");
    await shot('label-judge');
    const rewardAsked = page.waitForRequest((r) => r.url().endsWith('/api/suggestion'));
    await byId('suggestion-source').selectOption('');
    check((await rewardAsked).postDataJSON().judge === undefined, 'back on the latest reward model, the suggestion was still asked of the judge');
    await waitForSuggestion('Reward model');
    check(new RegExp(`^Reward model ${rm.name} `).test(await suggestionLineOf()), `back on the latest reward model the suggestion reads "${await suggestionLineOf()}"`);
    log('judge suggestion:', judgeLine);

    step = 'label-suggestion-off';
    await byId('suggestion-toggle').uncheck();
    await byId('suggestion-box').waitFor({ state: 'detached' });
    // With the switch off, choosing a judge neither turns it on nor asks anything.
    const offRequests = [];
    const onOffRequest = (r) => {
      if (r.url().endsWith('/api/suggestion')) offRequests.push(r.url());
    };
    page.on('request', onOffRequest);
    await byId('suggestion-source').selectOption(`base:${tiny}`);
    await page.waitForTimeout(300);
    check(!(await byId('suggestion-toggle').isChecked()) && (await byId('suggestion-box').count()) === 0, 'choosing a judge turned the AI suggestion on');
    await byId('suggestion-source').selectOption('');
    page.off('request', onOffRequest);
    check(offRequests.length === 0, `choosing a judge with the switch off asked for ${offRequests.length} suggestion(s)`);
    const hidden2 = await judge('2');
    check(hidden2.sent.suggestion_visible === false, `a verdict with the suggestion switched off sent suggestion_visible ${hidden2.sent.suggestion_visible}`);
    const visibleOf = (id) => sqliteCount(db, `SELECT suggestion_visible FROM judgments WHERE id = ${Number(id)}`);
    const visibleFlags = [hidden1, shownJudgment, hidden2].map((j) => visibleOf(j.id));
    check(JSON.stringify(visibleFlags) === '[0,1,0]', `judgments ${[hidden1.id, shownJudgment.id, hidden2.id]} have suggestion_visible ${JSON.stringify(visibleFlags)} in SQLite, expected [0,1,0]`);
    const storedSuggested = sqliteCount(db, `SELECT suggested_response_id FROM judgments WHERE id = ${Number(shownJudgment.id)}`);
    check(storedSuggested === shownJudgment.sent.suggested_response_id, `judgment ${shownJudgment.id} stored suggested_response_id ${storedSuggested}`);
    // The ranking screen has the same switch: the preferred answer by its number on screen.
    await go('label/ranking', 'label');
    const rankingOpen = await Promise.race([
      byId('rank-answer-1').waitFor().then(() => true),
      byId('label-done').waitFor().then(() => false),
    ]);
    if (rankingOpen) {
      check(!(await byId('suggestion-toggle').isChecked()), 'the ranking screen starts with the AI suggestion on');
      await byId('suggestion-toggle').check();
      await byId('suggestion-text').waitFor();
      const rankingLine = ((await byId('suggestion-text').textContent()) ?? '').trim();
      check(new RegExp(`^Reward model ${rm.name} (prefers answer \\d|has no preference)`).test(rankingLine), `the ranking suggestion reads "${rankingLine}"`);
      log('ranking suggestion:', rankingLine);
    } else {
      log('ranking suggestion: no ranking left for e2e-second (skipped)');
    }
    const report = await api(base, 'annotator_report', { project_id: project.id });
    const second = report.annotators.find((a) => a.name === 'e2e-second');
    check(report.reward_model === rm.name && second?.suggestion.shown === 1, `annotator_report: reward model ${report.reward_model}, e2e-second's suggestion figures ${JSON.stringify(second?.suggestion)}`);
    log('suggestion:', suggestionLine, visibleFlags[0] === null ? "" : `(suggestion_visible in SQLite: ${visibleFlags.join(', ')})`);

    step = 'annotators-gold';
    await page.click('[data-testid="nav-annotators"]');
    await byId('screen-annotators').waitFor();
    await byId('annotator-row-e2e-second').waitFor();
    check(((await byId('annotators-reward-model').textContent()) ?? '').includes(rm.name), 'the Annotators screen does not name the reward model');
    await byId(`gold-item-${tie.id}`).waitFor();
    check(((await byId(`gold-item-${tie.id}`).textContent()) ?? '').includes('e2e-expert'), 'the gold item does not say who gave it');
    await shot('annotators');
    await byId(`gold-item-unmark-${tie.id}`).click();
    await byId(`gold-item-${tie.id}`).waitFor({ state: 'detached' });
    gold = await api(base, 'gold_items', { project_id: project.id });
    check(gold.length === 0, `after "Unmark" on the Annotators screen gold_items gives ${JSON.stringify(gold)}`);

    // ---- promotion and "retrain without" on the Versions screen ----
    step = 'promote';
    await go('versions', 'versions');
    await byId('lineage-version-v1').click();
    await byId('version-details').getByRole('heading', { name: 'v1', exact: true }).waitFor();
    await byId('promote').click();
    await page.waitForSelector('[data-testid="promote-job"]:is([data-status="succeeded"], [data-status="failed"])', { timeout: JOB_TIMEOUT });
    check((await byId('promote-job').getAttribute('data-status')) === 'succeeded', `promoting v1 failed: ${await byId('promote-job').textContent()}`);
    let forced = false;
    if ((await byId('promote-regressions').count()) > 0) {
      // The tiny model may well regress against the base: promote anyway, as the warning offers.
      log('promotion refused:', ((await byId('promote-regressions').textContent()) ?? '').replace(/\s+/g, ' ').trim());
      await byId('promote-force').click();
      forced = true;
    }
    await byId('promoted-badge').waitFor({ timeout: JOB_TIMEOUT });
    await byId('promoted-version').getByText('Promoted: v1').waitFor();
    const promoted = (await api(base, 'project_details', { project_id: project.id })).project.promoted_version_id;
    check(promoted === versions[0].id, `after promoting v1 (id ${versions[0].id}) project_details gives promoted_version_id ${promoted}`);
    await shot('promote');
    log('promoted v1', forced ? '(anyway, past its regressions)' : '(no regression)');

    step = 'retrain-without';
    const withoutName = `${rm.name}-without`;
    await byId(`lineage-version-${rm.name}`).click();
    await byId('version-details').getByRole('heading', { name: rm.name, exact: true }).waitFor();
    await byId('retrain-open').click();
    await byId('retrain-annotator-e2e-second').check();
    await byId('retrain-start').click();
    await byId(`lineage-version-${withoutName}`).waitFor({ timeout: JOB_TIMEOUT });
    await byId('retrain-job-done').waitFor();
    await shot('retrain-without');
    const afterRetrain = await api(base, 'list_versions', { project_id: project.id });
    const without = afterRetrain.find((v) => v.name === withoutName);
    check(without?.method === 'rm', `list_versions has no ${withoutName} reward model: ${JSON.stringify(afterRetrain.map((v) => [v.name, v.method]))}`);
    check(without.hyperparams?.filter?.exclude_annotators?.includes('e2e-second'), `${withoutName} does not leave out e2e-second: ${JSON.stringify(without.hyperparams?.filter)}`);
    const withoutProvenance = await api(base, 'version_provenance', { version_id: without.id });
    check(!('e2e-second' in withoutProvenance.annotators), `${withoutName} still learned from e2e-second: ${JSON.stringify(withoutProvenance.annotators)}`);
    log('retrained', rm.name, 'without e2e-second:', withoutName);

    step = 'console';
    const relevant = pageErrors.filter((e) => !/favicon/.test(e));
    check(relevant.length === 0, `the page reported errors:\n  ${relevant.join('\n  ')}`);
    log('all steps passed');
  } catch (e) {
    failed = true;
    console.error(`\n[e2e] FAILED at step "${step}": ${e instanceof Failure ? e.message : e.stack ?? e}`);
    if (pageErrors.length) console.error(`[e2e] page errors:\n  ${pageErrors.join('\n  ')}`);
    if (page) await shot(`failure-${step}`).catch(() => {});
    if (serverLog.trim()) console.error(`[e2e] server output (last 3000 chars):\n${serverLog.slice(-3000)}`);
  } finally {
    await browser?.close().catch(() => {});
    server.kill('SIGTERM');
    if (!failed && !process.env.HONE_E2E_KEEP) rmSync(tmp, { recursive: true, force: true });
    else log('kept', tmp);
  }
  process.exit(failed ? 1 : 0);
}

/** Polls list_prompts until the held-out count is `expected` (the split change is async). */
async function expectSplitCount(base, projectId, expected) {
  let count = -1;
  for (let i = 0; i < 50; i++) {
    count = (await api(base, 'list_prompts', { project_id: projectId, split: 'heldout' })).length;
    if (count === expected) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Failure(`after changing a split the API lists ${count} held-out prompts, expected ${expected}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
