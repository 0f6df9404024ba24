import { afterEach, describe, expect, it, vi } from 'vitest';
import { HoneError, describeError, toHoneError } from './errors';
import { HttpTransport, TauriTransport, isTauri, selectTransport, tokenFrom } from './transport';
import * as api from './api';
import { defaultSettings, normalizeSettings, SETTINGS_KEY } from './settings';
import type { UiSettings } from './types/UiSettings';
import type { JobEvent } from './types/JobEvent';

function jsonResponse(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
}

describe('transport selection', () => {
  it('uses Tauri only when the shell injected its internals', () => {
    expect(isTauri({ __TAURI_INTERNALS__: {} })).toBe(true);
    expect(isTauri({})).toBe(false);
    expect(selectTransport({ __TAURI_INTERNALS__: {} }).name).toBe('tauri');
    expect(selectTransport({}).name).toBe('http');
  });
});

describe('HTTP transport', () => {
  it('posts the arguments as JSON to /api/<command> and returns the JSON result', async () => {
    const fetchFn = vi.fn(async () => jsonResponse(200, [{ id: 1, name: 'support' }]));
    const t = new HttpTransport('/api', fetchFn as unknown as typeof fetch);
    const out = await t.call('list_projects', {});
    expect(out).toEqual([{ id: 1, name: 'support' }]);
    const [url, init] = fetchFn.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe('/api/list_projects');
    expect(init.method).toBe('POST');
    expect(JSON.parse(init.body as string)).toEqual({});
  });

  it('uploads a file as the raw body to /api/<path>?<query> and maps a refusal', async () => {
    const fetchFn = vi.fn(async () => jsonResponse(200, { imported: 2 }));
    const t = new HttpTransport('/api', fetchFn as unknown as typeof fetch);
    const file = new Blob(['{"prompt": "a"}\n{"prompt": "b"}\n']);
    expect(await t.upload('upload/import', { project_id: '3', file_name: 'p q.jsonl', split: 'train' }, file)).toEqual({ imported: 2 });
    const [url, init] = fetchFn.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe('/api/upload/import?project_id=3&file_name=p+q.jsonl&split=train');
    expect(init.body).toBe(file);
    expect((init.headers as Record<string, string>)['content-type']).toBe('application/octet-stream');
    const refusing = new HttpTransport('/api', (async () => jsonResponse(413, { code: 'too_large', message: 'the file is larger than the import limit of 256 MiB', field: null })) as unknown as typeof fetch);
    await expect(refusing.upload('upload/import', {}, file)).rejects.toMatchObject({ code: 'too_large' });
  });

  it('returns null for a command without a result', async () => {
    const t = new HttpTransport('/api', (async () => jsonResponse(200, null)) as unknown as typeof fetch);
    expect(await t.call('set_prompt_split', { prompt_id: 1, split: 'heldout' })).toBeNull();
  });

  it('throws the server error as a HoneError with code, message and field', async () => {
    const body = { code: 'invalid', message: 'must be above rating_min (7 ≥ 3)', field: 'project.rating_max' };
    const t = new HttpTransport('/api', (async () => jsonResponse(400, body)) as unknown as typeof fetch);
    const error = await t.call('create_project', {}).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HoneError);
    expect(error).toMatchObject({ code: 'invalid', field: 'project.rating_max' });
    expect((error as HoneError).human).toBe('must be above rating_min (7 ≥ 3) (project.rating_max)');
  });

  it('names the status when the error body is not the API shape', async () => {
    const html = new Response('<html>Bad Gateway</html>', { status: 502, statusText: 'Bad Gateway' });
    const t = new HttpTransport('/api', (async () => html) as unknown as typeof fetch);
    const error = (await t.call('list_projects', {}).catch((e: unknown) => e)) as HoneError;
    expect(error.code).toBe('http');
    expect(error.message).toContain('502');
  });

  it('reports an unreachable server as a network error', async () => {
    const t = new HttpTransport('/api', (async () => {
      throw new TypeError('Failed to fetch');
    }) as unknown as typeof fetch);
    const error = (await t.call('list_projects', {}).catch((e: unknown) => e)) as HoneError;
    expect(error.code).toBe('network');
    expect(error.message).toContain('Failed to fetch');
  });

  it('streams job events from /api/jobs/<id>/events and closes after finished', () => {
    const fake = { onmessage: null as ((m: MessageEvent) => void) | null, onerror: null, readyState: 1, close: vi.fn() };
    const urls: string[] = [];
    const t = new HttpTransport('/api', fetch, (url) => {
      urls.push(url);
      return fake as unknown as EventSource;
    });
    const seen: JobEvent[] = [];
    t.subscribe(7, (e) => seen.push(e), () => {});
    expect(urls).toEqual(['/api/jobs/7/events']);
    fake.onmessage!({ data: JSON.stringify({ event: 'progress', done: 1, total: 2, message: 'prompts' }) } as MessageEvent);
    expect(fake.close).not.toHaveBeenCalled();
    fake.onmessage!({ data: JSON.stringify({ event: 'finished', result: [] }) } as MessageEvent);
    expect(fake.close).toHaveBeenCalled();
    // A message after the end (a reconnect's replay) is not delivered.
    fake.onmessage!({ data: JSON.stringify({ event: 'progress', done: 2, total: 2, message: '' }) } as MessageEvent);
    expect(seen.map((e) => e.event)).toEqual(['progress', 'finished']);
  });
});

describe('server token', () => {
  it('takes the token from ?token= first, else the one kept for the tab', () => {
    expect(tokenFrom('?token=abc', null)).toBe('abc');
    expect(tokenFrom('?token=abc', 'old')).toBe('abc');
    expect(tokenFrom('', 'old')).toBe('old');
    expect(tokenFrom('?x=1', null)).toBeNull();
  });

  it("never takes a team account's token from a link (it is typed on the sign-in page)", () => {
    const account = `hone_${'a'.repeat(16)}_${'b'.repeat(64)}`;
    expect(tokenFrom(`?token=${account}`, null)).toBeNull();
    expect(tokenFrom(`?token=${account}`, 'old')).toBe('old');
    expect(tokenFrom('', account)).toBeNull();
  });

  it('sends it as a bearer header and as a query parameter of the event stream', async () => {
    const fetchFn = vi.fn(async () => jsonResponse(200, 'ok'));
    const urls: string[] = [];
    const source = { onmessage: null, onerror: null, readyState: 1, close: () => {} };
    const t = new HttpTransport('/api', fetchFn as unknown as typeof fetch, (url) => {
      urls.push(url);
      return source as unknown as EventSource;
    }, 's e/cret');
    await t.call('health', {});
    const init = (fetchFn.mock.calls[0] as unknown as [string, RequestInit])[1];
    expect((init.headers as Record<string, string>).authorization).toBe('Bearer s e/cret');
    t.subscribe(2, () => {}, () => {});
    expect(urls).toEqual(['/api/jobs/2/events?token=s%20e%2Fcret']);
  });

  it('sends no authorization header without a token', async () => {
    const fetchFn = vi.fn(async () => jsonResponse(200, 'ok'));
    await new HttpTransport('/api', fetchFn as unknown as typeof fetch).call('health', {});
    const init = (fetchFn.mock.calls[0] as unknown as [string, RequestInit])[1];
    expect(init.headers as Record<string, string>).not.toHaveProperty('authorization');
  });
});

describe('Tauri transport', () => {
  it('invokes the one api command with the command name and arguments', async () => {
    const invokeFn = vi.fn(async () => ({ job_id: 3 }));
    const t = new TauriTransport(invokeFn as never);
    expect(await t.call('build_starter', {})).toEqual({ job_id: 3 });
    expect(invokeFn).toHaveBeenCalledWith('api', { command: 'build_starter', args: {} });
  });

  it('maps a rejected invoke to the same HoneError', async () => {
    const invokeFn = vi.fn(async () => {
      throw { code: 'not_found', message: 'project 9 does not exist', field: null };
    });
    const t = new TauriTransport(invokeFn as never);
    const error = (await t.call('project_details', { project_id: 9 }).catch((e: unknown) => e)) as HoneError;
    expect(error).toBeInstanceOf(HoneError);
    expect(error.code).toBe('not_found');
    expect(error.field).toBeNull();
  });

  it('subscribes with a channel and delivers its messages', () => {
    const channel = { onmessage: (_: JobEvent) => {} };
    const invokeFn = vi.fn(async () => null);
    const t = new TauriTransport(invokeFn as never, () => channel as never);
    const seen: string[] = [];
    t.subscribe(4, (e) => seen.push(e.event), () => {});
    expect(invokeFn).toHaveBeenCalledWith('subscribe_job', { jobId: 4, onEvent: channel });
    channel.onmessage({ event: 'failed', error: { code: 'cancelled', message: 'cancelled', field: null } } as JobEvent);
    channel.onmessage({ event: 'progress', done: 1, total: 1, message: '' } as JobEvent);
    expect(seen).toEqual(['failed']);
  });
});

describe('error mapping', () => {
  it('turns strings and Errors into HoneErrors', () => {
    expect(toHoneError('boom')).toMatchObject({ code: 'internal', message: 'boom' });
    expect(toHoneError(new Error('bad'))).toMatchObject({ code: 'internal', message: 'bad' });
    expect(describeError({ code: 'duplicate', message: 'project "x" exists', field: 'name' })).toBe('project "x" exists (name)');
  });
});

describe('typed client', () => {
  afterEach(() => api.setTransport(null));

  it('sends each helper as its command with snake_case arguments', async () => {
    const calls: [string, object][] = [];
    api.setTransport({
      name: 'http',
      call: async <T>(command: string, args: object) => {
        calls.push([command, args]);
        return null as T;
      },
      subscribe: () => () => {},
      loadSettings: async () => defaultSettings(),
      saveSettings: async () => {},
    });
    await api.projectDetails(4);
    await api.listPrompts(4);
    await api.setPromptSplit(9, 'heldout');
    await api.undoJudgment(12);
    await api.nextItem({ project_id: 4, annotator: 'ann', kind: 'rating' });
    await api.nextItem({ project_id: 4, annotator: 'ann', kind: 'rating' }, [[1, 2]]);
    expect(calls).toEqual([
      ['project_details', { project_id: 4 }],
      ['list_prompts', { project_id: 4, split: null }],
      ['set_prompt_split', { prompt_id: 9, split: 'heldout' }],
      ['undo_judgment', { judgment_id: 12 }],
      ['next_item', { project_id: 4, annotator: 'ann', kind: 'rating' }],
      ['next_item', { project_id: 4, annotator: 'ann', kind: 'rating', exclude: [[1, 2]] }],
    ]);
  });

  it('resolves a job with its result and rejects a failed one with its error', async () => {
    let listener: (e: JobEvent) => void = () => {};
    api.setTransport({
      name: 'http',
      call: async <T>() => ({ job_id: 5 }) as T,
      subscribe: (_id, onEvent) => {
        listener = onEvent;
        return () => {};
      },
      loadSettings: async () => defaultSettings(),
      saveSettings: async () => {},
    });
    const events: string[] = [];
    const job = await api.buildStarter((e) => events.push(e.event));
    expect(job.id).toBe(5);
    listener({ event: 'progress', done: 1, total: 10, message: 'loss 3.1' } as JobEvent);
    listener({ event: 'finished', result: { architecture: 'llama' } } as JobEvent);
    await expect(job.done).resolves.toEqual({ architecture: 'llama' });
    expect(events).toEqual(['progress', 'finished']);

    const failing = await api.generateCandidates({} as never);
    listener({ event: 'failed', error: { code: 'invalid', message: 'must be at least 1', field: 'n' } } as JobEvent);
    await expect(failing.done).rejects.toMatchObject({ code: 'invalid', field: 'n' });
  });
});

describe('settings behind the transport', () => {
  function memoryStorage(initial: Record<string, string> = {}) {
    const data = new Map(Object.entries(initial));
    return {
      data,
      getItem: (k: string) => data.get(k) ?? null,
      setItem: (k: string, v: string) => void data.set(k, v),
    };
  }
  const mine: UiSettings = { theme: 'dark', shortcuts: { 'comparison.a': 'a' }, workspace: null };

  it('keeps them in a browser under one localStorage key, as the JSON of UiSettings', async () => {
    const storage = memoryStorage();
    const t = new HttpTransport('/api', fetch, undefined, null, () => storage);
    expect(await t.loadSettings()).toEqual(defaultSettings());
    await t.saveSettings(mine);
    expect([...storage.data.keys()]).toEqual([SETTINGS_KEY]);
    expect(JSON.parse(storage.data.get(SETTINGS_KEY)!)).toEqual(mine);
    expect(await t.loadSettings()).toEqual(mine);
  });

  it('reads the defaults from storage that is broken, disabled or holds something else', async () => {
    const junk = new HttpTransport('/api', fetch, undefined, null, () => memoryStorage({ [SETTINGS_KEY]: '{not json' }));
    expect(await junk.loadSettings()).toEqual(defaultSettings());
    const off = new HttpTransport('/api', fetch, undefined, null, () => null);
    expect(await off.loadSettings()).toEqual(defaultSettings());
    const error = (await off.saveSettings(mine).catch((e: unknown) => e)) as HoneError;
    expect(error).toBeInstanceOf(HoneError);
    expect(error.code).toBe('storage');
    const full = new HttpTransport('/api', fetch, undefined, null, () => ({
      getItem: () => null,
      setItem: () => {
        throw new Error('QuotaExceededError');
      },
    }));
    await expect(full.saveSettings(mine)).rejects.toMatchObject({ code: 'storage' });
  });

  it('reads and writes them in the desktop with the get_settings and set_settings commands', async () => {
    const stored: UiSettings = { theme: 'light', shortcuts: { undo: 'z' }, workspace: '/home/me/hone' };
    const invokeFn = vi.fn(async (command: string) => (command === 'get_settings' ? stored : null));
    const t = new TauriTransport(invokeFn as never);
    expect(await t.loadSettings()).toEqual(stored);
    expect(invokeFn).toHaveBeenCalledWith('get_settings');
    await t.saveSettings(mine);
    expect(invokeFn).toHaveBeenCalledWith('set_settings', { settings: mine });
  });

  it('turns a refused set_settings into a HoneError', async () => {
    const invokeFn = vi.fn(async () => {
      throw { code: 'invalid', message: 'theme "blue" is not system, light or dark', field: 'theme' };
    });
    const error = (await new TauriTransport(invokeFn as never).saveSettings(mine).catch((e: unknown) => e)) as HoneError;
    expect(error).toMatchObject({ code: 'invalid', field: 'theme' });
  });

  it('normalizes what was stored: unknown themes, non-string keys and workspaces are dropped', () => {
    expect(normalizeSettings({ theme: 'blue', shortcuts: { undo: 'x', bad: 3, empty: '' }, workspace: 7 })).toEqual({
      theme: 'system',
      shortcuts: { undo: 'x' },
      workspace: null,
    });
    expect(normalizeSettings([])).toEqual(defaultSettings());
    expect(normalizeSettings({ theme: 'dark', shortcuts: [], workspace: '/w' })).toEqual({ theme: 'dark', shortcuts: {}, workspace: '/w' });
  });

  it('reaches the transport in use through the typed client', async () => {
    const saved: UiSettings[] = [];
    api.setTransport({
      name: 'tauri',
      call: async <T>() => null as T,
      subscribe: () => () => {},
      loadSettings: async () => mine,
      saveSettings: async (s) => void saved.push(s),
    });
    try {
      expect(await api.loadSettings()).toEqual(mine);
      await api.saveSettings(defaultSettings());
      expect(saved).toEqual([defaultSettings()]);
    } finally {
      api.setTransport(null);
    }
  });
});
