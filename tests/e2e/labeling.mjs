// Labeling at real scale, in headless Chromium against a real `hone serve` (issue 14): long,
// formatted answers (3,000 words with headings, lists, code, a table) rendered as Markdown
// and sanitized (a hostile answer stays inert), the verdicts in view without scrolling at
// 1280×720 and 1920×1080 in light and dark (screenshots kept in tests/e2e/artifacts/), axe-core
// on every screen with no serious or critical violation, and a keyboard-only pass over every
// kind: judge, skip, flag, "nothing wrong", "already good", keyboard span marking, the help
// overlay, the history and a re-judgment, undo after a reload. Each step is checked through
// the API.
//
//   npm run build && node tests/e2e/labeling.mjs
//
// HONE_BIN, CHROMIUM and HONE_E2E_KEEP as for run.mjs; HONE_E2E_UI_DIR=ui/dist while working on the UI.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { api, check, Failure, freePort, logger, waitForHealth } from './lib.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const HONE_BIN = process.env.HONE_BIN ?? '/var/tmp/hone-target/release/hone';
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const UI_DIST = join(root, 'ui/dist');
const ARTIFACTS = join(root, 'tests/e2e/artifacts');
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const ANNOTATOR = 'scale-expert';
const log = logger('e2e labeling');

const WORDS = 'valve pressure gauge seal flange gasket torque bolt thread pump inlet outlet filter housing bearing shaft'.split(' ');

/** About `words` words of Markdown an answer might hold: headings, lists, code, a table. */
function longAnswer(seed, words) {
  const parts = [`## Procedure ${seed}`, '', 'Follow these steps **in order**; skipping one voids the *warranty*.', ''];
  let count = 0;
  let i = seed;
  const word = () => WORDS[(i = (i * 7 + 3) % WORDS.length)];
  for (let section = 1; count < words; section++) {
    parts.push(`### Step ${section}`, '');
    const sentence = Array.from({ length: 60 }, word).join(' ');
    parts.push(`${sentence[0].toUpperCase()}${sentence.slice(1)}.`, '');
    parts.push(`- check the ${word()}`, `- tighten the ${word()} to \`${section * 5} Nm\``, '');
    if (section === 1) {
      parts.push('```python', 'def torque(bolts: int) -> float:', '    return 12.5 * bolts', '```', '');
      parts.push('| part | torque |', '|---|---|', '| flange | 40 Nm |', '| seal | 12 Nm |', '');
      parts.push('- [x] valve closed', '- [ ] pressure released', '');
    }
    count += 66;
  }
  return parts.join('\n');
}

const HOSTILE = [
  'Before anything else: <script>window.__xss = 1</script>',
  '',
  '<img src="x" onerror="window.__xss = 2">',
  '',
  '[Read the manual](javascript:window.__xss=3)',
].join('\n');

async function main() {
  check(existsSync(HONE_BIN), `HONE_BIN ${HONE_BIN} does not exist: build hone (cargo build --release) or set HONE_BIN`);
  check(existsSync(CHROMIUM), `${CHROMIUM} does not exist: apt-get install chromium, or set CHROMIUM`);
  check(existsSync(join(UI_DIST, 'index.html')), `${UI_DIST}/index.html does not exist: run npm run build first`);
  mkdirSync(ARTIFACTS, { recursive: true });
  const tmp = mkdtempSync(join(tmpdir(), 'hone-e2e-labeling-'));
  const workspace = join(tmp, 'workspace');
  const tiny = join(tmp, 'tiny');
  log('workspace', tmp);
  execFileSync(HONE_BIN, ['model', 'new-tiny', '--out', tiny], { stdio: 'inherit' });

  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  // No --ui: the UI embedded in the binary is what is served (HONE_E2E_UI_DIR serves a
  // folder instead, to try UI changes without rebuilding hone).
  const uiArgs = process.env.HONE_E2E_UI_DIR ? ['--ui', process.env.HONE_E2E_UI_DIR] : [];
  const server = spawn(HONE_BIN, ['--workspace', workspace, 'serve', '--port', String(port), ...uiArgs], { stdio: ['ignore', 'pipe', 'pipe'], cwd: tmp });
  let serverLog = '';
  server.stdout.on('data', (d) => (serverLog += d));
  server.stderr.on('data', (d) => (serverLog += d));

  let browser;
  let page;
  let failed = false;
  let step = 'start';
  const pageErrors = [];
  try {
    await waitForHealth(base, server, 30_000);

    // ---- data: a project whose items hold long formatted answers and one hostile answer ----
    step = 'data';
    const created = await api(base, 'create_project', {
      settings: { name: 'scale', task_description: 'Maintenance answers', rating_min: 1, rating_max: 5, kto_threshold: 4, overlap: 2 },
      guidelines: 'Correct procedure first.',
      criteria: [
        { name: 'correctness', description: 'the right procedure' },
        { name: 'clarity', description: 'easy to follow' },
      ],
      span_labels: [],
    });
    const projectId = created.project?.id ?? created.id;
    check(Number.isInteger(projectId), `create_project answered ${JSON.stringify(created).slice(0, 300)}`);
    const rows = [
      // Comparisons (the import's verdict is one of the two the project wants).
      { prompt: 'How do I replace the pump seal?', chosen: longAnswer(1, 3000), rejected: `${HOSTILE}\n\n${longAnswer(2, 3000)}` },
      { prompt: 'How do I bleed the line?', chosen: longAnswer(3, 400), rejected: longAnswer(4, 400) },
      { prompt: 'How do I check the gasket?', chosen: longAnswer(5, 300), rejected: longAnswer(6, 300) },
      // Three answers to one prompt: a ranking, and single answers to rate, edit and mark.
      ...[7, 8, 9].map((seed) => ({ prompt: 'How do I torque the flange bolts?', completion: longAnswer(seed, 3000), label: seed !== 8 })),
      ...[10, 11].map((seed) => ({ prompt: `Is a ${seed} Nm torque enough for the seal?`, completion: longAnswer(seed, 200), label: true })),
    ];
    const report = await api(base, 'import_text', { project_id: projectId, file_name: 'scale.jsonl', content: rows.map((r) => JSON.stringify(r)).join('\n') + '\n', split: 'train' });
    log('imported', JSON.stringify(report).slice(0, 200));

    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-sync'] });
    const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
    await context.addInitScript(
      ([annotator, project, model]) => {
        if (!localStorage.getItem('hone.annotator')) localStorage.setItem('hone.annotator', annotator);
        localStorage.setItem('hone.projectId', String(project));
        localStorage.setItem('hone.modelDir', model);
      },
      [ANNOTATOR, projectId, tiny],
    );
    page = await context.newPage();
    page.setDefaultTimeout(30_000);
    page.on('pageerror', (e) => pageErrors.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') pageErrors.push(`console error: ${m.text()}`);
    });
    const byId = (id) => page.getByTestId(id);
    const go = async (hash, screen) => {
      await page.goto(`${base}/#/${hash}`);
      await byId(`screen-${screen}`).waitFor();
    };
    const setTheme = (theme) =>
      page.evaluate((t) => {
        localStorage.setItem('hone.settings', JSON.stringify({ theme: t, shortcuts: {}, workspace: null }));
      }, theme);
    /** axe-core on the page as it is: no serious or critical violation of WCAG 2.2 A/AA. */
    const axe = async (where) => {
      const result = await page.evaluate(async (source) => {
        // eslint-disable-next-line no-eval -- evaluated through the DevTools protocol, outside the page's CSP
        if (!window.axe) (0, eval)(source);
        const r = await window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] } });
        return r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id} (${v.impact}): ${v.nodes.length} × ${v.nodes[0].target.join(' ')} — ${v.nodes[0].failureSummary?.split('\n')[1] ?? ''}`);
      }, AXE_SOURCE);
      check(result.length === 0, `axe-core on ${where}: ${result.join('; ')}`);
    };
    /** Every control of the verdict bar lies inside the window, and the page was not scrolled. */
    const verdictsInView = async (where, size) => {
      await byId('verdict-bar').waitFor();
      const boxes = await page.$$eval('[data-testid="verdict-bar"] button, [data-testid="verdict-bar"] [role="radio"]', (els) =>
        els.map((el) => {
          const r = el.getBoundingClientRect();
          return { text: el.textContent?.trim().slice(0, 30), top: r.top, bottom: r.bottom };
        }),
      );
      const scrollY = await page.evaluate(() => window.scrollY);
      check(scrollY === 0, `${where} at ${size}: the page scrolled to ${scrollY}`);
      check(boxes.length > 0, `${where} at ${size}: no controls in the verdict bar`);
      const out = boxes.filter((b) => b.top < 0 || b.bottom > size.height);
      check(out.length === 0, `${where} at ${size.width}×${size.height}: verdict controls outside the window: ${JSON.stringify(out)}`);
    };

    // ---- reach, rendering and contrast: every kind, two sizes, two themes ----
    const kinds = ['comparison', 'ranking', 'rating', 'edit', 'span'];
    for (const theme of ['light', 'dark']) {
      for (const size of [
        { width: 1280, height: 720 },
        { width: 1920, height: 1080 },
      ]) {
        await page.setViewportSize(size);
        await page.goto(`${base}/`);
        await setTheme(theme);
        await page.reload();
        check((await page.evaluate(() => document.documentElement.dataset.theme)) === theme, `the ${theme} theme is not applied`);
        for (const kind of kinds) {
          step = `reach ${kind} ${size.width}x${size.height} ${theme}`;
          await go(`label/${kind}`, 'label');
          await byId(`label-${kind}`).waitFor();
          await verdictsInView(kind, size);
          await page.screenshot({ path: join(ARTIFACTS, `label-${kind}-${size.width}x${size.height}-${theme}.png`) });
          if (size.width === 1280) await axe(`the ${kind} screen (${theme})`);
        }
      }
      step = `axe other screens ${theme}`;
      await page.setViewportSize({ width: 1280, height: 720 });
      for (const [hash, screen] of [
        ['projects', 'projects'],
        [`projects/${projectId}`, 'project'],
        ['models', 'models'],
        ['prompts', 'prompts'],
        ['label', 'label'],
        ['finetune', 'finetune'],
        ['versions', 'versions'],
        ['versions/arena', 'arena'],
        ['annotators', 'annotators'],
        ['history', 'history'],
        ['playground', 'playground'],
        ['settings', 'settings'],
      ]) {
        await go(hash, screen);
        await page.waitForTimeout(300); // the screen's first data
        await axe(`the ${screen} screen (${theme})`);
      }
    }
    await page.setViewportSize({ width: 1280, height: 720 });
    await setTheme('light');
    await page.reload();
    log('verdicts in view at 1280×720 and 1920×1080, light and dark; axe-core clean');

    // ---- the comparison with the hostile answer: rendered, inert, raw on request ----
    step = 'rendering';
    await go('label/comparison', 'label');
    await byId('answer-a').waitFor();
    const sides = await page.$$eval('[data-testid^="answer-"] .markdown', (els) => els.map((el) => el.innerHTML.length));
    check(sides.length === 2, `the comparison shows ${sides.length} rendered answers`);
    check((await page.locator('[data-testid^="answer-"] .markdown h2').count()) === 2, 'the answers\' ## headings are not rendered as h2');
    check((await page.locator('[data-testid^="answer-"] pre code .hljs-keyword').count()) >= 2, 'the python code block is not highlighted');
    check((await page.locator('[data-testid^="answer-"] table th').count()) >= 4, 'the GFM table is not rendered');
    check((await page.locator('[data-testid^="answer-"] input[type=checkbox][disabled]').count()) >= 4, 'the task list is not rendered');
    const xss = await page.evaluate(() => ({
      flag: window.__xss ?? null,
      scripts: document.querySelectorAll('main script').length,
      handlers: [...document.querySelectorAll('main *')].filter((el) => [...el.attributes].some((a) => a.name.startsWith('on'))).length,
      jsLinks: [...document.querySelectorAll('main a')].filter((a) => /^\s*javascript:/i.test(a.getAttribute('href') ?? '')).length,
    }));
    check(xss.flag === null && xss.scripts === 0 && xss.handlers === 0 && xss.jsLinks === 0, `the hostile answer is not inert: ${JSON.stringify(xss)}`);
    const hostileText = await page.locator('[data-testid^="answer-"]').filter({ hasText: 'Before anything else' }).textContent();
    check(hostileText?.includes('<script>window.__xss = 1</script>'), 'the hostile answer\'s text is not shown as text');
    await page.keyboard.press('m');
    check((await page.locator('[data-testid^="answer-"] [data-format="raw"]').count()) === 2, 'm does not show the raw text');
    check(((await byId('answer-a').textContent()) ?? '').includes('## Procedure'), 'the raw text does not show the Markdown source');
    await page.keyboard.press('m');
    check((await page.locator('[data-testid^="answer-"] [data-format="markdown"]').count()) === 2, 'm does not bring the rendered text back');
    await page.keyboard.press('d');
    await byId('pair-diff').waitFor();
    check((await page.locator('[data-testid="pair-diff"] ins, [data-testid="pair-diff"] del').count()) > 0, 'the diff view shows no differences');
    await page.keyboard.press('d');
    await byId('answer-a').waitFor();
    await page.keyboard.press('?');
    await byId('key-help').waitFor();
    check(((await byId('key-help').textContent()) ?? '').includes('Skip this item'), 'the help overlay does not list the skip key');
    await page.keyboard.press('1'); // the dialog holds the keys: no judgment
    await page.keyboard.press('Escape');
    await byId('key-help').waitFor({ state: 'detached' });
    let history = await api(base, 'judgment_history', { project_id: projectId, annotator: ANNOTATOR, limit: 50, offset: 0 });
    check(history.total === 0, `a key pressed in the help overlay recorded a judgment: ${JSON.stringify(history).slice(0, 300)}`);
    log('answers rendered and inert; raw, diff and help by keyboard');

    // ---- keyboard only: skip, judge, flag ----
    step = 'skip';
    const firstPrompt = ((await byId('prompt-text').textContent()) ?? '').trim();
    const [skipRequest] = await Promise.all([page.waitForRequest((r) => r.url().endsWith('/api/skip_item')), page.keyboard.press('s')]);
    check(skipRequest.postDataJSON().annotator === ANNOTATOR, `skip_item sent ${skipRequest.postData()}`);
    await page.waitForFunction((before) => (document.querySelector('[data-testid="prompt-text"]')?.textContent ?? '').trim() !== before, firstPrompt);
    check(((await byId('label-counter').textContent()) ?? '').includes('1 skipped'), 'the counter does not count the skip');
    const judge = async (key) => {
      const [request, answer] = await Promise.all([
        page.waitForRequest((r) => r.url().endsWith('/api/record_feedback')),
        page.waitForResponse((r) => r.url().endsWith('/api/record_feedback')),
        page.keyboard.press(key),
      ]);
      check(answer.ok(), `record_feedback answered ${answer.status()}: ${await answer.text()}`);
      await page.waitForSelector('[data-testid="save-status"][data-state="saved"]');
      return { sent: request.postDataJSON(), id: (await answer.json()).judgment_id };
    };
    step = 'comparison';
    const compared = await judge('1');
    check(compared.sent.kind.kind === 'comparison' && compared.sent.kind.choice === 'a', `1 sent ${JSON.stringify(compared.sent.kind)}`);
    step = 'flag';
    await byId('answer-a').waitFor();
    await page.keyboard.press('f');
    await byId('flag-dialog').waitFor();
    const [flagRequest] = await Promise.all([page.waitForRequest((r) => r.url().endsWith('/api/flag_item')), page.keyboard.press('2')]);
    check(flagRequest.postDataJSON().reason === 'off_topic', `flag 2 sent ${flagRequest.postData()}`);
    await byId('flag-dialog').waitFor({ state: 'detached' });
    const flags = await api(base, 'list_flags', { project_id: projectId });
    check(flags.length === 1 && flags[0].reason === 'off_topic', `list_flags: ${JSON.stringify(flags)}`);
    // The flagged pair's prompt does not come back; the skipped pair comes back last: after
    // every other open pair (judged here as ties), and nothing after it.
    const promptNow = async () => ((await byId('prompt-text').textContent()) ?? '').trim();
    const flaggedPrompt = flags[0].prompt_text.trim();
    let others = 0;
    for (;;) {
      await byId('answer-a').waitFor();
      const shownPrompt = await promptNow();
      check(shownPrompt !== flaggedPrompt, 'the flagged pair came back');
      if (shownPrompt === firstPrompt) break;
      check(others < 10, 'the skipped pair never came back');
      await judge('3');
      others += 1;
    }
    check(others >= 1, 'the skipped pair came back before the other open pairs');
    await judge('1');
    await byId('label-done').waitFor();
    // The lead sees the flag on the Annotators screen.
    await go('annotators', 'annotators');
    await byId(`flag-${flags[0].id}`).waitFor();
    check(((await byId(`flag-${flags[0].id}`).textContent()) ?? '').includes('off topic'), 'the Annotators screen does not show the flag\'s reason');
    await go('label/comparison', 'label');
    log('skip (back last), comparison, flag by keyboard; the flag listed for the lead');

    step = 'ranking';
    await go('label/ranking', 'label');
    await byId('rank-answer-1').waitFor();
    for (const key of ['2', '1']) await page.keyboard.press(key);
    const ranked = await judge('Enter');
    check(ranked.sent.kind.kind === 'ranking' && ranked.sent.kind.ranked.length === 3, `the ranking sent ${JSON.stringify(ranked.sent.kind)}`);
    check(ranked.sent.kind.ranked[0] === ranked.sent.shown_order[1], 'the answer ranked first is not answer 2');

    step = 'rating';
    await go('label/rating', 'label');
    await byId('rating-answer').waitFor();
    await page.keyboard.press('4');
    await page.keyboard.press('5');
    const rated = await judge('Enter');
    check(JSON.stringify(rated.sent.kind.scores) === JSON.stringify({ correctness: 4, clarity: 5 }), `the rating sent ${JSON.stringify(rated.sent.kind)}`);

    step = 'edit';
    await go('label/edit', 'label');
    await byId('edit-text').waitFor();
    const accepted = await judge('a');
    const original = (await api(base, 'judgment_detail', { judgment_id: accepted.id })).feedback;
    check(accepted.sent.kind.kind === 'edit' && original.kind === 'edit', `"already good" sent ${JSON.stringify(accepted.sent.kind).slice(0, 200)}`);

    step = 'span';
    await go('label/span', 'label');
    await byId('span-text').waitFor();
    const spanText = (await byId('span-text').textContent()) ?? '';
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('Shift+ArrowRight');
    await page.keyboard.press('Shift+ArrowRight');
    const selected = ((await byId('span-kb-selection').textContent()) ?? '').trim();
    check(selected === spanText.trim().split(/\s+/).slice(0, 3).join(' '), `the keyboard selection is "${selected}"`);
    await page.keyboard.press('1');
    const marked = await judge('Enter');
    const span = marked.sent.kind.spans[0];
    check(span && [...spanText].slice(span.start, span.end).join('') === selected, `the span sent ${JSON.stringify(span)} does not cover "${selected}"`);
    await byId('span-text').waitFor();
    const nothingWrong = await judge('a');
    check(nothingWrong.sent.kind.kind === 'span' && nothingWrong.sent.kind.spans.length === 0, `"nothing wrong" sent ${JSON.stringify(nothingWrong.sent.kind)}`);
    log('ranking, rating, already good, keyboard span, nothing wrong');

    // ---- undo after a reload ----
    step = 'undo after reload';
    await page.reload();
    await byId('span-text').waitFor();
    await byId('undo-last').waitFor();
    const [undoRequest] = await Promise.all([page.waitForRequest((r) => r.url().endsWith('/api/undo_judgment')), page.keyboard.press('u')]);
    check(undoRequest.postDataJSON().judgment_id === nothingWrong.id, `undo after a reload took back ${undoRequest.postData()}, expected judgment ${nothingWrong.id}`);

    // ---- history: find the rating, re-judge it ----
    step = 'history';
    await go('history', 'history');
    await byId('history-row').first().waitFor();
    await byId('history-kind').selectOption('rating');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="history-row"]').length === 1);
    await byId('history-open').first().click();
    await byId('history-detail').waitFor();
    await byId('rejudge').click();
    await byId('rating-answer').waitFor();
    await page.keyboard.press('2');
    await page.keyboard.press('2');
    const redone = await judge('Enter');
    check(redone.sent.supersedes === rated.id, `the re-judgment sent supersedes ${redone.sent.supersedes}, expected ${rated.id}`);
    history = await api(base, 'judgment_history', { project_id: projectId, annotator: ANNOTATOR, kind: 'rating', include_superseded: true, limit: 50, offset: 0 });
    const old = history.entries.find((e) => e.judgment_id === rated.id);
    check(old?.superseded_by === redone.id, `the old rating is not superseded by the new one: ${JSON.stringify(history.entries)}`);
    await page.screenshot({ path: join(ARTIFACTS, 'history-1280x720-light.png') });
    log('undo after reload; history and re-judgment');

    // ---- thumbs and demonstration, by keyboard ----
    step = 'thumbs';
    await go('label/thumbs', 'label');
    await byId('thumbs-answer').waitFor();
    await verdictsInView('thumbs', { width: 1280, height: 720 });
    const thumbed = await judge('2');
    check(thumbed.sent.kind.kind === 'thumbs' && thumbed.sent.kind.up === false, `2 on the thumbs screen sent ${JSON.stringify(thumbed.sent.kind)}`);
    step = 'demonstration';
    await go('label/demonstration', 'label');
    await byId('demonstration-text').waitFor();
    await page.keyboard.press('i');
    await page.keyboard.type('## Steps\n\n1. Close the valve.');
    await page.locator('[aria-label="Preview"] h2').waitFor();
    const written = await judge('Control+Enter');
    check(written.sent.kind.kind === 'demonstration' && written.sent.kind.text.startsWith('## Steps'), `the demonstration sent ${JSON.stringify(written.sent.kind)}`);
    log('thumbs down and a written answer by keyboard');

    // ---- the job tray: a job started on Prompts stays in view on other screens ----
    step = 'job tray';
    await go('prompts', 'prompts');
    await byId('gen-model').selectOption({ index: 1 });
    await byId('gen-n').fill('2');
    await byId('gen-max-tokens').fill('400');
    await byId('gen-split').selectOption('all');
    await byId('gen-start').click();
    await byId('tray-job').first().waitFor();
    await go('history', 'history');
    check((await byId('tray-job').count()) === 1, 'the job tray is gone after leaving the Prompts screen');
    await page.waitForSelector('[data-testid="tray-job"][data-status="succeeded"]', { timeout: 300_000 });
    await byId('tray-open').click();
    await byId('screen-prompts').waitFor();
    await byId('gen-job-done').waitFor();
    log('the candidate job followed in the tray from another screen, and back to its screen');

    // ---- playground: two answers side by side, one sent into the project ----
    step = 'playground';
    await go('playground', 'playground');
    await byId('playground-prompt').fill('How do I check the torque of a flange bolt?');
    await byId('playground-compare').check();
    await byId('playground-model-1').selectOption({ index: 1 });
    const tokens = [];
    page.on('request', (r) => r.url().endsWith('/api/playground') && tokens.push(r.postDataJSON()));
    await byId('playground-prompt').press('Control+Enter');
    await byId('playground-stats-0').waitFor({ timeout: 120_000 });
    await byId('playground-stats-1').waitFor({ timeout: 120_000 });
    check(tokens.length === 2, `the playground asked ${tokens.length} times for two models`);
    await byId('playground-send-0').click();
    await byId('playground-sent-0').waitFor();
    const sentLine = (await byId('playground-sent-0').textContent()) ?? '';
    const promptId = Number(/prompt (\d+)/.exec(sentLine)?.[1]);
    const withResponses = await api(base, 'prompt_with_responses', { prompt_id: promptId });
    const answerShown = ((await byId('playground-answer-0').locator('.markdown, .raw').first().textContent()) ?? '').trim();
    check(withResponses.prompt.text === 'How do I check the torque of a flange bolt?' && withResponses.responses.length === 1, `the candidate is not in the project: ${JSON.stringify(withResponses).slice(0, 300)}`);
    check(answerShown.length > 0, 'the playground shows no answer text');
    await page.screenshot({ path: join(ARTIFACTS, 'playground-1280x720-light.png') });
    log('playground: two models side by side, one answer added as a candidate');

    check(pageErrors.length === 0, `the page reported errors:\n${pageErrors.join('\n')}`);
    log('passed');
  } catch (e) {
    failed = true;
    console.error(`[e2e labeling] FAILED at step "${step}": ${e instanceof Failure ? e.message : (e?.stack ?? e)}`);
    if (pageErrors.length) console.error(pageErrors.join('\n'));
    if (page) await page.screenshot({ path: join(ARTIFACTS, `failure-labeling-${step.replaceAll(/[^a-z0-9]+/gi, '-')}.png`), fullPage: true }).catch(() => {});
    console.error('--- server output ---\n' + serverLog.slice(-4000));
  } finally {
    await browser?.close().catch(() => {});
    server.kill('SIGTERM');
    if (!failed && !process.env.HONE_E2E_KEEP) rmSync(tmp, { recursive: true, force: true });
    else log('kept', tmp);
  }
  process.exit(failed ? 1 : 0);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
