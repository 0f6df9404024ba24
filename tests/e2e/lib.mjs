// What the browser tests share: checks that fail with a message, a free port, waiting for
// `hone serve`, calling its API, following a job, counting rows with sqlite3.
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:net';

export const JOB_TIMEOUT = 300_000;

export const logger =
  (name) =>
  (...a) =>
    console.log(`[${name} ${new Date().toISOString().slice(11, 19)}]`, ...a);

export class Failure extends Error {}
export function check(condition, message) {
  if (!condition) throw new Failure(message);
}

export function freePort() {
  return new Promise((resolvePort, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolvePort(port));
    });
  });
}

export async function waitForHealth(base, server, deadlineMs) {
  const until = Date.now() + deadlineMs;
  while (Date.now() < until) {
    if (server.exitCode !== null) throw new Failure(`hone serve exited early with code ${server.exitCode}`);
    try {
      const r = await fetch(`${base}/api/health`);
      if (r.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Failure(`GET ${base}/api/health did not return 200 within ${deadlineMs / 1000} s`);
}

export async function api(base, command, args = {}) {
  const r = await fetch(`${base}/api/${command}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(args) });
  const body = await r.json();
  if (!r.ok) throw new Failure(`${command} answered ${r.status}: ${JSON.stringify(body)}`);
  return body;
}

/** Follows a job's events (server-sent, the stream ends after `finished` or `failed`) to its result. */
export async function jobResult(base, jobId) {
  const r = await fetch(`${base}/api/jobs/${jobId}/events`, { signal: AbortSignal.timeout(JOB_TIMEOUT) });
  check(r.ok, `GET /api/jobs/${jobId}/events answered ${r.status}`);
  const events = (await r.text())
    .split('\n')
    .filter((l) => l.startsWith('data:'))
    .map((l) => JSON.parse(l.slice(5)));
  const end = events.findLast((e) => e.event === 'finished' || e.event === 'failed');
  check(end, `job ${jobId}'s event stream ended without finished or failed (${events.length} events)`);
  check(end.event === 'finished', `job ${jobId} failed: ${JSON.stringify(end.error)}`);
  return end.result;
}

/** One number read straight from the workspace's SQLite file (the sqlite3 tool; scripts/test.sh
 * installs it). A read-back that cannot run fails the test: it never silently checks nothing. */
export function sqliteCount(db, sql) {
  let out;
  try {
    out = execFileSync('sqlite3', [db, sql], { encoding: 'utf8' }).trim();
  } catch (e) {
    throw new Failure(`cannot read ${db} with sqlite3 (${e.message.split('\n')[0]}); install sqlite3`);
  }
  const value = Number(out);
  check(out !== '' && Number.isFinite(value), `sqlite3 answered ${JSON.stringify(out)} to ${sql}`);
  return value;
}

