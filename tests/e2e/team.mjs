// A team server in headless Chromium (issue 18): `hone serve --team` with an owner, a lead
// and two annotators (`hone users add`). Each annotator signs in on the page with their
// token (a session cookie the page's scripts cannot read), labels a pair under their
// account's name — no name is typed —, sees only their own judgments, cannot start a
// fine-tune, and signs out; the lead sees both annotators' judgments.
//
//   npm run build && cargo build --release && node tests/e2e/team.mjs
//
// HONE_BIN, CHROMIUM and HONE_E2E_KEEP as for run.mjs. With HONE_TEST_DATABASE set to a
// PostgreSQL server (postgres://…, as scripts/postgres.sh prints), the workspace is bound to a
// new database there (`hone init --database`), so the team works against PostgreSQL.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { check, Failure, freePort, logger } from './lib.mjs';

const HONE_BIN = process.env.HONE_BIN ?? '/var/tmp/hone-target/release/hone';
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const log = logger('e2e team');

/** A command with an account's token. */
async function apiAs(base, token, command, args = {}) {
  const r = await fetch(`${base}/api/${command}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify(args),
  });
  const body = await r.json();
  if (!r.ok) throw new Failure(`${command} answered ${r.status}: ${JSON.stringify(body)}`);
  return body;
}

async function main() {
  check(existsSync(HONE_BIN), `HONE_BIN ${HONE_BIN} does not exist: build hone (cargo build --release) or set HONE_BIN`);
  check(existsSync(CHROMIUM), `${CHROMIUM} does not exist: apt-get install chromium, or set CHROMIUM`);
  const tmp = mkdtempSync(join(tmpdir(), 'hone-e2e-team-'));
  const workspace = join(tmp, 'workspace');
  const database = process.env.HONE_TEST_DATABASE;
  if (database) {
    const name = `hone_e2e_team_${process.pid}_${Date.now()}`;
    execFileSync('psql', [database, '-q', '-v', 'ON_ERROR_STOP=1', '-c', `CREATE DATABASE ${name}`]);
    const url = database.replace(/\/[^/?]*(\?|$)/, `/${name}$1`);
    const init = JSON.parse(execFileSync(HONE_BIN, ['--workspace', workspace, 'init', '--database', url, '--json'], { encoding: 'utf8' }));
    check(init.database.startsWith('postgres://'), `the workspace is on PostgreSQL: ${JSON.stringify(init)}`);
    log(`on PostgreSQL: ${init.database}`);
  }
  const add = (name, role) =>
    JSON.parse(execFileSync(HONE_BIN, ['--workspace', workspace, 'users', 'add', name, '--role', role, '--json'], { encoding: 'utf8' })).token;
  const tokens = { olivia: add('olivia', 'owner'), lee: add('lee', 'lead'), ana: add('ana', 'annotator'), bo: add('bo', 'annotator') };

  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const server = spawn(HONE_BIN, ['--workspace', workspace, 'serve', '--team', '--port', String(port)], { stdio: ['ignore', 'pipe', 'pipe'], cwd: tmp });
  let serverLog = '';
  server.stdout.on('data', (d) => (serverLog += d));
  server.stderr.on('data', (d) => (serverLog += d));

  let browser;
  let failed = false;
  let step = 'start';
  const pageErrors = [];
  try {
    await waitForHealthWithToken(base, server, tokens.lee);

    step = 'the lead sets up a project';
    const created = await apiAs(base, tokens.lee, 'create_project', {
      settings: { name: 'support', task_description: 'Help desk answers', rating_min: 1, rating_max: 5, kto_threshold: 4, overlap: 3 },
      guidelines: 'Prefer the answer that solves the problem.',
      criteria: [],
      span_labels: [],
    });
    const projectId = created.project.id;
    const rows = [
      { prompt: 'How do I reset my password?', chosen: 'Settings, then Account, then Reset password.', rejected: 'Make a new account.' },
      { prompt: 'Is the store open on Sunday?', chosen: 'Yes, from ten to four.', rejected: 'Stores sell things.' },
    ];
    await apiAs(base, tokens.lee, 'import_text', { project_id: projectId, file_name: 'pairs.jsonl', content: rows.map((r) => JSON.stringify(r)).join('\n') + '\n', split: 'train' });

    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-sync'] });

    step = 'the lead makes ana and bo members of the project';
    {
      const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
      await context.addInitScript((project) => localStorage.setItem('hone.projectId', String(project)), projectId);
      const page = await context.newPage();
      page.setDefaultTimeout(30_000);
      page.on('pageerror', (e) => pageErrors.push(`lee: page error: ${e.message}`));
      await page.goto(`${base}/`);
      await page.getByTestId('signin-token').fill(tokens.lee);
      await page.getByTestId('signin-submit').click();
      await page.goto(`${base}/#/annotators`);
      const members = page.getByTestId('members');
      await members.getByText('No members yet.').waitFor();
      for (const name of ['ana', 'bo']) {
        await members.locator('input').fill(name);
        await members.locator('button[type="submit"]').click();
        await members.locator('li', { hasText: name }).waitFor();
      }
      const listed = await apiAs(base, tokens.lee, 'list_members', { project_id: projectId });
      check(listed.map((u) => u.name).join() === 'ana,bo', `the project's members are ${JSON.stringify(listed)}`);
      await context.close();
    }

    /** One annotator's browser: signs in, labels a pair, checks what they may see and do. */
    const annotatorSession = async (name) => {
      step = `${name} signs in`;
      const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
      await context.addInitScript((project) => localStorage.setItem('hone.projectId', String(project)), projectId);
      const page = await context.newPage();
      page.setDefaultTimeout(30_000);
      page.on('pageerror', (e) => pageErrors.push(`${name}: page error: ${e.message}`));
      const byId = (id) => page.getByTestId(id);
      await page.goto(`${base}/`);
      await byId('signin-form').waitFor();
      await byId('signin-token').fill('hone_0000000000000000_wrong');
      await byId('signin-submit').click();
      await byId('signin-error').waitFor();
      await byId('signin-token').fill(tokens[name]);
      await byId('signin-submit').click();
      await byId('signed-in-as').waitFor();
      const shown = ((await byId('signed-in-as').textContent()) ?? '').replace(/\s+/g, ' ').trim();
      check(shown === `${name} (annotator)`, `the sidebar says ${JSON.stringify(shown)}`);
      check((await byId('annotator-input').count()) === 0, 'a signed-in annotator can still type a name');
      const cookies = await context.cookies();
      const session = cookies.find((c) => c.name === 'hone_session');
      check(session && session.httpOnly && session.sameSite === 'Strict', `the session cookie is ${JSON.stringify(session)}`);
      check(!(await page.evaluate(() => document.cookie)).includes('hone_session'), "the page's scripts can read the session cookie");

      step = `${name} labels a pair`;
      await page.goto(`${base}/#/label/comparison`);
      await byId('answer-a').waitFor();
      const [request, answer] = await Promise.all([
        page.waitForRequest((r) => r.url().endsWith('/api/record_feedback')),
        page.waitForResponse((r) => r.url().endsWith('/api/record_feedback')),
        page.keyboard.press('1'),
      ]);
      check(answer.ok(), `record_feedback answered ${answer.status()}: ${await answer.text()}`);
      check(request.postDataJSON().annotator === name, `the page sent annotator ${JSON.stringify(request.postDataJSON().annotator)}`);
      check(!request.headers().authorization, 'the page sent a token instead of its session cookie');
      await page.waitForSelector('[data-testid="save-status"][data-state="saved"]');

      if (name === 'ana') {
        step = 'ana labels while the connection is down';
        // The second pair is on screen; the network goes away before she decides.
        await byId('answer-a').waitFor();
        await context.setOffline(true);
        await page.keyboard.press('1');
        await page.waitForSelector('[data-testid="save-status"][data-state="waiting"]');
        const waiting = ((await byId('label-waiting').textContent()) ?? '').trim();
        check(waiting === '1 not sent yet', `the waiting badge says ${JSON.stringify(waiting)}`);
        const kept = await page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('hone.outbox.')).map((k) => JSON.parse(localStorage.getItem(k)).length));
        check(kept.length === 1 && kept[0] === 1, `the outbox in localStorage holds ${JSON.stringify(kept)}`);
        // Back online: the browser says so and the kept judgment goes, once.
        await context.setOffline(false);
        await page.waitForSelector('[data-testid="save-status"][data-state="saved"]');
        check((await byId('label-waiting').count()) === 0, 'the waiting badge stays after the judgment was sent');
        const mine = await apiAs(base, tokens.lee, 'judgment_history', { project_id: projectId, annotator: 'ana' });
        check(mine.entries.length === 2, `ana has ${mine.entries.length} judgment(s) after the connection came back, expected 2`);
      }

      step = `${name} sees only their own`;
      const fromPage = (command, args) =>
        page.evaluate(
          async ([c, a]) => {
            const r = await fetch(`/api/${c}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(a) });
            return { status: r.status, body: await r.json() };
          },
          [command, args],
        );
      const history = await fromPage('judgment_history', { project_id: projectId });
      check(history.status === 200, `judgment_history answered ${history.status}: ${JSON.stringify(history.body)}`);
      const authors = [...new Set(history.body.entries.map((e) => e.annotator))];
      check(authors.length === 1 && authors[0] === name, `${name}'s history holds ${JSON.stringify(authors)}`);
      const train = await fromPage('start_fine_tune', { project_id: projectId });
      check(train.status === 403, `an annotator's start_fine_tune answered ${train.status}`);

      step = `${name} signs out`;
      await byId('sign-out').click();
      await byId('signin-form').waitFor();
      const after = await fromPage('whoami', {});
      check(after.status === 401, `after signing out whoami answered ${after.status}`);
      await context.close();
    };
    await annotatorSession('ana');
    await annotatorSession('bo');

    step = 'the lead sees everyone';
    const all = await apiAs(base, tokens.lee, 'judgment_history', { project_id: projectId });
    const authors = new Set(all.entries.map((e) => e.annotator));
    check(authors.has('ana') && authors.has('bo'), `the lead's history holds ${JSON.stringify([...authors])}`);

    step = "the lead's progress view";
    {
      const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
      await context.addInitScript((project) => localStorage.setItem('hone.projectId', String(project)), projectId);
      const page = await context.newPage();
      page.setDefaultTimeout(30_000);
      page.on('pageerror', (e) => pageErrors.push(`lee: page error: ${e.message}`));
      await page.goto(`${base}/`);
      await page.getByTestId('signin-token').fill(tokens.lee);
      await page.getByTestId('signin-submit').click();
      check((await page.getByTestId('nav-team').count()) === 0, 'a lead sees the Team screen');
      await page.goto(`${base}/#/annotators`);
      const row = page.getByTestId('progress-comparison');
      await row.waitFor();
      const cells = (await row.locator('td').allTextContents()).map((t) => t.trim());
      // Two pairs, each with the import's verdict; ana judged both (one of them offline), bo
      // one: 5 verdicts of 6, one pair complete.
      check(cells[0] === '2' && cells[1].startsWith('1 ') && cells[5] === '5', `the lead's progress row reads ${JSON.stringify(cells)}`);
      await context.close();
    }

    step = 'the owner manages the accounts';
    const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
    const page = await context.newPage();
    page.setDefaultTimeout(30_000);
    page.on('pageerror', (e) => pageErrors.push(`olivia: page error: ${e.message}`));
    const byId = (id) => page.getByTestId(id);
    await page.goto(`${base}/`);
    await byId('signin-token').fill(tokens.olivia);
    await byId('signin-submit').click();
    await byId('nav-team').click();
    await byId('screen-team').waitFor();
    await page.locator('[data-testid="add-user"] input').fill('cy');
    await page.locator('[data-testid="add-user"] select').selectOption('annotator');
    await page.locator('[data-testid="add-user"] button[type="submit"]').click();
    const issued = ((await byId('issued-token').locator('pre').textContent()) ?? '').trim();
    check(issued.startsWith('hone_'), `the screen showed ${JSON.stringify(issued)} as cy's token`);
    const cy = await apiAs(base, issued, 'whoami');
    check(cy.name === 'cy' && cy.role === 'annotator', `cy's token signs in as ${JSON.stringify(cy)}`);
    await page.locator('[data-testid="users"] tr', { hasText: 'bo' }).getByRole('button', { name: 'Revoke' }).click();
    await page.locator('[data-testid="users"] tr', { hasText: 'bo' }).filter({ hasText: 'revoked' }).waitFor();
    const revoked = await fetch(`${base}/api/whoami`, { method: 'POST', headers: { authorization: `Bearer ${tokens.bo}` } });
    check(revoked.status === 401, `a revoked account's token answered ${revoked.status}`);
    await context.close();
    check(pageErrors.length === 0, pageErrors.join('\n'));
    log('passed: two annotators signed in, labeled under their names, saw their own, could not train; the lead saw both; the owner added an account and revoked one on the Team screen');
  } catch (e) {
    failed = true;
    console.error(`[e2e team] FAILED at ${step}: ${e instanceof Failure ? e.message : e.stack}`);
    console.error(serverLog.slice(-3000));
  } finally {
    await browser?.close();
    server.kill('SIGTERM');
    if (!process.env.HONE_E2E_KEEP) rmSync(tmp, { recursive: true, force: true });
  }
  process.exit(failed ? 1 : 0);
}

/** A team server's health answer needs an account. */
async function waitForHealthWithToken(base, server, token) {
  const until = Date.now() + 30_000;
  while (Date.now() < until) {
    if (server.exitCode !== null) throw new Failure(`hone serve exited early with code ${server.exitCode}`);
    try {
      const r = await fetch(`${base}/api/health`, { headers: { authorization: `Bearer ${token}` } });
      if (r.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Failure(`GET ${base}/api/health did not return 200 within 30 s`);
}

void main();
