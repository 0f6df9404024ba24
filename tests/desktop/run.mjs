// The desktop smoke test: the real Hone window (src-tauri, WebKitGTK) under Xvfb, driven
// through WebDriver by tauri-driver and Debian's WebKitWebDriver. It opens a prepared
// workspace, picks the project, records a pairwise judgment with the keyboard, checks the
// judgment is in the workspace, and saves a screenshot. Then it connects the window to a team
// server (`hone serve --team`, started here) with an annotator's token from the Settings
// screen, labels there under the account's name, checks the judgment is in the server's
// workspace, and goes back to its own.
//
// Run under a display: `xvfb-run -a node tests/desktop/run.mjs`. Variables: HONE_BIN (the CLI),
// HONE_DESKTOP (the app), TAURI_DRIVER, NATIVE_DRIVER (default /usr/bin/WebKitWebDriver).
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir, homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from '../e2e/lib.mjs';

const target = process.env.CARGO_TARGET_DIR ?? '/var/tmp/hone-target';
const HONE_BIN = process.env.HONE_BIN ?? `${target}/release/hone`;
const HONE_DESKTOP = process.env.HONE_DESKTOP ?? `${target}/release/hone-desktop`;
const TAURI_DRIVER = process.env.TAURI_DRIVER ?? join(homedir(), '.cargo/bin/tauri-driver');
const NATIVE_DRIVER = process.env.NATIVE_DRIVER ?? '/usr/bin/WebKitWebDriver';
const ARTIFACTS = resolve('tests/desktop/artifacts');
const PORT = 4444;
const log = (...a) => console.log('[desktop]', ...a);

function fail(message) {
  console.error(`desktop smoke test FAILED: ${message}`);
  process.exitCode = 1;
  throw new Error(message);
}

for (const [name, path] of [['HONE_BIN', HONE_BIN], ['HONE_DESKTOP', HONE_DESKTOP], ['TAURI_DRIVER', TAURI_DRIVER], ['NATIVE_DRIVER', NATIVE_DRIVER]]) {
  if (!existsSync(path)) fail(`${name} ${path} does not exist`);
}
if (!process.env.DISPLAY) fail('no DISPLAY: run under xvfb-run -a');

// ---- a workspace with a project, prompts and candidates to compare ----
const ws = mkdtempSync(join(tmpdir(), 'hone-desktop-'));
const hone = (...args) => execFileSync(HONE_BIN, ['--workspace', ws, ...args], { encoding: 'utf8' });
hone('project', 'create', 'desk', '--description', 'desktop smoke test');
const prompts = join(ws, 'prompts.jsonl');
writeFileSync(prompts, ['How do I reset my password?', 'How do I export my notes?'].map((p) => JSON.stringify({ prompt: p })).join('\n') + '\n');
hone('import', prompts, '--project', 'desk');
hone('model', 'new-tiny', '--out', join(ws, 'tiny'));
hone('candidates', '--project', 'desk', '--model', join(ws, 'tiny'), '-n', '3', '--max-tokens', '8', '--temperature', '1.2', '--json');
log('workspace ready:', ws);

// ---- a team server with an owner, an annotator (dana) and a project of one pair ----
const teamWs = mkdtempSync(join(tmpdir(), 'hone-desktop-team-'));
const team = (...args) => execFileSync(HONE_BIN, ['--workspace', teamWs, ...args], { encoding: 'utf8' });
team('users', 'add', 'olivia', '--role', 'owner');
const danaToken = JSON.parse(team('users', 'add', 'dana', '--role', 'annotator', '--json')).token;
team('project', 'create', 'teamdesk', '--description', 'a team project', '--overlap', '3');
const pairs = join(teamWs, 'pairs.jsonl');
writeFileSync(pairs, JSON.stringify({ prompt: 'Is the office open on Friday?', chosen: 'Yes, until five.', rejected: 'Offices exist.' }) + '\n');
team('import', pairs, '--project', 'teamdesk');
team('users', 'join', '--project', 'teamdesk', 'dana');
const teamPort = await freePort();
const server = spawn(HONE_BIN, ['--workspace', teamWs, 'serve', '--team', '--port', String(teamPort)], { stdio: ['ignore', 'inherit', 'inherit'] });
const teamUrl = `http://127.0.0.1:${teamPort}`;

// ---- tauri-driver, which starts the app for a WebDriver session ----
const driver = spawn(TAURI_DRIVER, ['--port', String(PORT), '--native-driver', NATIVE_DRIVER], {
  env: { ...process.env, HONE_WORKSPACE: ws },
  stdio: ['ignore', 'inherit', 'inherit'],
});
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function wd(method, path, body) {
  const r = await fetch(`http://127.0.0.1:${PORT}${path}`, { method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  const json = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(json.value ?? json)}`);
  return json.value;
}

let session;
try {
  for (let i = 0; ; i++) {
    try {
      await wd('GET', '/status');
      break;
    } catch (e) {
      if (i > 100) fail(`tauri-driver did not start: ${e.message}`);
      await sleep(100);
    }
  }
  const created = await wd('POST', '/session', { capabilities: { alwaysMatch: { 'tauri:options': { application: HONE_DESKTOP } } } });
  session = created.sessionId;
  const s = (path) => `/session/${session}${path}`;
  const find = async (css, timeout = 20000) => {
    const until = Date.now() + timeout;
    for (;;) {
      try {
        const el = await wd('POST', s('/element'), { using: 'css selector', value: css });
        return Object.values(el)[0];
      } catch (e) {
        if (Date.now() > until) fail(`no element ${css}: ${e.message}`);
        await sleep(200);
      }
    }
  };
  const script = (code, args = []) => wd('POST', s('/execute/sync'), { script: code, args });
  const keys = (text) => wd('POST', s('/actions'), { actions: [{ type: 'key', id: 'kbd', actions: [...text].flatMap((c) => [{ type: 'keyDown', value: c }, { type: 'keyUp', value: c }]) }] });

  // The window opened the workspace it was given.
  await find('[data-testid="nav-projects"]');
  const title = await wd('GET', s('/title'));
  log('window title:', title);
  await script("location.hash = '#/projects'");
  const open = await find('[data-testid="open-project-desk"]');
  await wd('POST', s(`/element/${open}/click`), {});
  const annotator = await find('[data-testid="annotator-input"]');
  await wd('POST', s(`/element/${annotator}/clear`), {});
  await wd('POST', s(`/element/${annotator}/value`), { text: 'desktop-expert' });

  // A pairwise judgment with the keyboard: 1 = A is better.
  await script("location.hash = '#/label/comparison'");
  await find('[data-testid="answer-a"]');
  await script('document.activeElement && document.activeElement.blur()');
  await keys('1');
  await find('[data-testid="save-status"][data-state="saved"]');
  mkdirSync(ARTIFACTS, { recursive: true });
  const png = await wd('GET', s('/screenshot'));
  writeFileSync(join(ARTIFACTS, 'desktop-pairwise.png'), Buffer.from(png, 'base64'));

  const stats = JSON.parse(hone('stats', '--project', 'desk', '--json'));
  const comparisons = stats.judgments?.comparison ?? 0;
  if (comparisons !== 1) fail(`the workspace holds ${comparisons} comparison judgments, expected the 1 just made: ${JSON.stringify(stats.judgments)}`);
  const annotators = (stats.annotators ?? []).map((a) => a.name ?? a.annotator);
  if (!annotators.includes('desktop-expert')) fail(`the judgment is not by desktop-expert: ${JSON.stringify(stats.annotators)}`);
  log('pairwise judgment recorded in the workspace; screenshot in', join(ARTIFACTS, 'desktop-pairwise.png'));

  // Settings go through the shell's store (get_settings / set_settings): the theme applies,
  // the store holds it, and the workspace shown is the one this window opened.
  await script("location.hash = '#/settings'");
  const dark = await find('[data-testid="theme-dark"]');
  await wd('POST', s(`/element/${dark}/click`), {});
  for (let i = 0; ; i++) {
    const theme = await script('return document.documentElement.dataset.theme');
    if (theme === 'dark') break;
    if (i > 50) fail(`after choosing Dark the window's theme is ${theme}`);
    await sleep(100);
  }
  const stored = await wd('POST', s('/execute/async'), { script: "const done = arguments[arguments.length - 1]; window.__TAURI_INTERNALS__.invoke('get_settings').then(done, (e) => done({ error: String(e) }))", args: [] });
  if (stored?.theme !== 'dark') fail(`the settings store holds ${JSON.stringify(stored)}, expected theme dark`);
  const shown = await wd('GET', s(`/element/${await find('[data-testid="settings-workspace"]')}/text`));
  if (!shown.includes(ws)) fail(`the Settings screen shows workspace ${shown}, expected ${ws}`);
  writeFileSync(join(ARTIFACTS, 'desktop-settings.png'), Buffer.from(await wd('GET', s('/screenshot')), 'base64'));
  // Back to the default, so the next run starts from it.
  await wd('POST', s('/execute/async'), { script: "const done = arguments[arguments.length - 1]; window.__TAURI_INTERNALS__.invoke('set_settings', { settings: { theme: 'system', shortcuts: {}, workspace: null } }).then(() => done(true), (e) => done(String(e)))", args: [] });
  log('settings: dark theme stored through tauri-plugin-store; screenshot', join(ARTIFACTS, 'desktop-settings.png'));

  // ---- the window as a team server's client ----
  for (let i = 0; ; i++) {
    const up = await fetch(`${teamUrl}/api/whoami`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${danaToken}` }, body: '{}' }).then((r) => r.ok, () => false);
    if (up) break;
    if (i > 100) fail(`the team server at ${teamUrl} did not start`);
    await sleep(100);
  }
  await script("location.hash = '#/settings'");
  const address = await find('[data-testid="team-server-address"]');
  await wd('POST', s(`/element/${address}/value`), { text: teamUrl });
  const tokenBox = await find('[data-testid="team-server-token"]');
  await wd('POST', s(`/element/${tokenBox}/value`), { text: danaToken });
  await wd('POST', s(`/element/${await find('[data-testid="team-server-connect"]')}/click`), {});
  // The page reloads: the sidebar now names the account the token belongs to.
  const signedIn = await wd('GET', s(`/element/${await find('[data-testid="signed-in-as"]')}/text`));
  if (!signedIn.includes('dana')) fail(`after connecting, the sidebar says ${JSON.stringify(signedIn)}`);
  await script("location.hash = '#/settings'");
  const connectedTo = await wd('GET', s(`/element/${await find('[data-testid="team-server-url"]')}/text`));
  if (connectedTo !== teamUrl) fail(`the Settings screen says it works with ${connectedTo}, expected ${teamUrl}`);
  await script("location.hash = '#/projects'");
  await wd('POST', s(`/element/${await find('[data-testid="open-project-teamdesk"]')}/click`), {});
  // Opening goes to the project's page: wait for it before going to the labeling screen.
  for (let i = 0; ; i++) {
    if ((await script('return location.hash')) !== '#/projects') break;
    if (i > 100) fail('opening the team project did not leave the projects screen');
    await sleep(100);
  }
  await script("location.hash = '#/label/comparison'");
  await find('[data-testid="answer-a"]');
  await script('document.activeElement && document.activeElement.blur()');
  await keys('1');
  await find('[data-testid="save-status"][data-state="saved"]');
  writeFileSync(join(ARTIFACTS, 'desktop-team.png'), Buffer.from(await wd('GET', s('/screenshot')), 'base64'));
  const teamStats = JSON.parse(team('stats', '--project', 'teamdesk', '--json'));
  const byDana = (teamStats.annotators ?? []).map((a) => a.name ?? a.annotator);
  if ((teamStats.judgments?.comparison ?? 0) < 2 || !byDana.includes('dana')) fail(`the team server's workspace holds ${JSON.stringify(teamStats.judgments)} by ${JSON.stringify(byDana)}, expected dana's comparison beside the import's`);
  const localStats = JSON.parse(hone('stats', '--project', 'desk', '--json'));
  if ((localStats.judgments?.comparison ?? 0) !== 1) fail(`the local workspace changed while connected: ${JSON.stringify(localStats.judgments)}`);
  log("team server: dana's judgment made in the window is in the server's workspace; screenshot", join(ARTIFACTS, 'desktop-team.png'));

  await script("location.hash = '#/settings'");
  await wd('POST', s(`/element/${await find('[data-testid="team-server-disconnect"]')}/click`), {});
  await find('[data-testid="team-server-connect"]');
  log('back to the local workspace');
  log('all steps passed');
} catch (e) {
  // What the window showed when it failed.
  if (session) {
    await wd('GET', `/session/${session}/screenshot`)
      .then((png) => {
        mkdirSync(ARTIFACTS, { recursive: true });
        writeFileSync(join(ARTIFACTS, 'desktop-failure.png'), Buffer.from(png, 'base64'));
      })
      .catch(() => {});
  }
  if (!process.exitCode) {
    console.error(`desktop smoke test FAILED: ${e.message}`);
    process.exitCode = 1;
  }
} finally {
  if (session) {
    // Whatever happened, the next start works with its own workspace again.
    await wd('POST', `/session/${session}/execute/async`, { script: "const done = arguments[arguments.length - 1]; window.__TAURI_INTERNALS__.invoke('disconnect_team_server').then(() => done(true), () => done(false))", args: [] }).catch(() => {});
    await wd('DELETE', `/session/${session}`).catch(() => {});
  }
  driver.kill();
  server.kill();
}
