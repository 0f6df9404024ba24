// Labeling latency: how long after a judgment key the next pair is on screen, in the built UI
// in headless Chromium against a real `hone serve` (what an expert feels, hour after hour).
// Prints the median and 95th percentile over N judgments, and the same for the save itself.
//
//   npm run build && node bench/label-latency.mjs [N=40]
// HONE_BIN (default $CARGO_TARGET_DIR/release/hone), CHROMIUM (default /usr/bin/chromium).
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';

const N = Number(process.argv[2] ?? 40);
const HONE_BIN = process.env.HONE_BIN ?? `${process.env.CARGO_TARGET_DIR ?? '/var/tmp/hone-target'}/release/hone`;
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const ws = mkdtempSync(join(tmpdir(), 'hone-latency-'));
const hone = (...args) => execFileSync(HONE_BIN, ['--workspace', ws, ...args], { encoding: 'utf8' });

// Enough pairs: prompts with 4 imported answers each (6 pairs per prompt).
hone('project', 'create', 'lat');
const lines = [];
for (let i = 0; i < Math.ceil(N / 6) + 1; i++) {
  for (let k = 0; k < 3; k++) lines.push(JSON.stringify({ prompt: `Question ${i}?`, chosen: `Answer ${i}.${k} a`, rejected: `Answer ${i}.${k} b` }));
}
writeFileSync(join(ws, 'pairs.jsonl'), lines.join('\n') + '\n');
hone('import', join(ws, 'pairs.jsonl'), '--project', 'lat', '--annotator', 'seed');

const port = await new Promise((r) => { const s = createServer().listen(0, () => { const p = s.address().port; s.close(() => r(p)); }); });
const server = spawn(HONE_BIN, ['--workspace', ws, 'serve', '--port', String(port), '--ui', resolve('ui/dist')], { stdio: 'ignore' });
const base = `http://127.0.0.1:${port}`;
for (let i = 0; ; i++) {
  try { if ((await fetch(`${base}/api/health`)).ok) break; } catch {}
  if (i > 200) throw new Error('hone serve did not start');
  await new Promise((r) => setTimeout(r, 50));
}
const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'] });
try {
  const page = await browser.newPage();
  await page.goto(`${base}/#/projects`);
  await page.getByTestId('open-project-lat').click();
  await page.getByTestId('annotator-input').fill('bench');
  await page.goto(`${base}/#/label/comparison`);
  await page.getByTestId('answer-a').waitFor();
  await page.waitForTimeout(300);
  const next = [], saved = [];
  for (let i = 0; i < N; i++) {
    const before = await page.getByTestId('answer-a').textContent();
    const t = await page.evaluate(async (before) => {
      const start = performance.now();
      document.dispatchEvent(new KeyboardEvent('keydown', { key: '1', bubbles: true }));
      let shown = null, done = null;
      while (shown === null || done === null) {
        await new Promise((r) => requestAnimationFrame(r));
        const a = document.querySelector('[data-testid="answer-a"]')?.textContent;
        if (shown === null && a !== before) shown = performance.now() - start;
        const s = document.querySelector('[data-testid="save-status"]');
        if (done === null && s?.getAttribute('data-state') === 'saved') done = performance.now() - start;
        if (performance.now() - start > 5000) break;
      }
      return { shown, done };
    }, before);
    if (t.shown !== null) next.push(t.shown);
    if (t.done !== null) saved.push(t.done);
    await page.waitForTimeout(50);
  }
  const q = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };
  console.log(`label latency over ${next.length} judgments: next pair on screen median ${q(next, 0.5).toFixed(1)} ms, p95 ${q(next, 0.95).toFixed(1)} ms; saved median ${q(saved, 0.5).toFixed(1)} ms, p95 ${q(saved, 0.95).toFixed(1)} ms`);
} finally {
  await browser.close();
  server.kill();
}
