// The two ways the UI reaches the API: HTTP (`hone serve`, a browser) and Tauri IPC (the
// desktop shell). Both give the same results and the same HoneError; nothing above this file
// knows which one is in use.
import { Channel, invoke } from '@tauri-apps/api/core';
import { HoneError, isApiErrorShape, toHoneError } from './errors';
import { normalizeSettings, SETTINGS_KEY } from './settings';
import type { JobEvent } from './types/JobEvent';
import type { UiSettings } from './types/UiSettings';

export type JobListener = (event: JobEvent) => void;

export interface Transport {
  readonly name: 'http' | 'tauri';
  call<T>(command: string, args: object): Promise<T>;
  /** Sends `body` as the raw request body to `/api/<path>?<query>` (HTTP only: the file is
   * streamed to the server instead of being read into the page and sent inside JSON). */
  upload?<T>(path: string, query: Record<string, string>, body: Blob): Promise<T>;
  /** Delivers the job's events (replayed ones first) until `finished`/`failed`; returns a stop function. */
  subscribe(jobId: number, onEvent: JobListener, onError: (e: HoneError) => void): () => void;
  /** The UI's settings: in the desktop from its settings store, in a browser from localStorage. */
  loadSettings(): Promise<UiSettings>;
  saveSettings(settings: UiSettings): Promise<void>;
}

type SettingsStorage = Pick<Storage, 'getItem' | 'setItem'>;

function browserStorage(): SettingsStorage | null {
  try {
    return globalThis.localStorage ?? null;
  } catch {
    return null; // storage disabled (a sandboxed page, some privacy modes)
  }
}

export function isLastEvent(event: JobEvent): boolean {
  return event.event === 'finished' || event.event === 'failed';
}

/** HTTP: `POST /api/<command>`; errors come back as JSON with a non-2xx status. */
export class HttpTransport implements Transport {
  readonly name = 'http';

  constructor(
    private readonly base = '/api',
    private readonly fetchFn: typeof fetch = (...a) => globalThis.fetch(...a),
    private readonly makeSource: (url: string) => EventSource = (url) => new EventSource(url),
    /** A server started with --token wants it on every request. */
    private readonly token: string | null = null,
    /** Where the settings live in a browser (one key, SETTINGS_KEY). */
    private readonly storage: () => SettingsStorage | null = browserStorage,
  ) {}

  async loadSettings(): Promise<UiSettings> {
    let text: string | null = null;
    try {
      text = this.storage()?.getItem(SETTINGS_KEY) ?? null;
    } catch {
      // storage disabled: the defaults
    }
    if (text === null) return normalizeSettings(null);
    try {
      return normalizeSettings(JSON.parse(text));
    } catch {
      return normalizeSettings(null); // not JSON (edited by hand): the defaults
    }
  }

  async saveSettings(settings: UiSettings): Promise<void> {
    const storage = this.storage();
    if (!storage) throw new HoneError('storage', 'this browser does not keep settings (its storage is disabled): they last for this page only');
    try {
      storage.setItem(SETTINGS_KEY, JSON.stringify(settings));
    } catch (e) {
      throw new HoneError('storage', `the settings could not be kept in this browser (${e instanceof Error ? e.message : String(e)})`);
    }
  }

  call<T>(command: string, args: object): Promise<T> {
    return this.post<T>(command, `${this.base}/${command}`, 'application/json', JSON.stringify(args));
  }

  upload<T>(path: string, query: Record<string, string>, body: Blob): Promise<T> {
    return this.post<T>(path, `${this.base}/${path}?${new URLSearchParams(query)}`, 'application/octet-stream', body);
  }

  private async post<T>(command: string, url: string, contentType: string, payload: BodyInit): Promise<T> {
    let response: Response;
    try {
      response = await this.fetchFn(url, {
        method: 'POST',
        headers: {
          'content-type': contentType,
          accept: 'application/json',
          ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
        },
        body: payload,
      });
    } catch (e) {
      throw new HoneError('network', `cannot reach the Hone server (${e instanceof Error ? e.message : String(e)})`);
    }
    const text = await response.text();
    let body: unknown = null;
    if (text.length > 0) {
      try {
        body = JSON.parse(text);
      } catch {
        // A proxy's HTML page or a crash: keep the status and the start of the text.
        if (!response.ok) throw new HoneError('http', `the server answered ${response.status}: ${text.slice(0, 200)}`);
        throw new HoneError('bad_response', `the server's answer to ${command} is not JSON`);
      }
    }
    if (!response.ok) {
      if (isApiErrorShape(body)) throw toHoneError(body);
      throw new HoneError('http', `the server answered ${response.status} ${response.statusText}`.trim());
    }
    return body as T;
  }

  subscribe(jobId: number, onEvent: JobListener, onError: (e: HoneError) => void): () => void {
    // EventSource cannot send headers: the server also takes the token as a query parameter.
    const query = this.token ? `?token=${encodeURIComponent(this.token)}` : '';
    const source = this.makeSource(`${this.base}/jobs/${jobId}/events${query}`);
    let closed = false;
    const close = () => {
      closed = true;
      source.close();
    };
    source.onmessage = (message: MessageEvent) => {
      if (closed) return;
      let event: JobEvent;
      try {
        event = JSON.parse(message.data) as JobEvent;
      } catch {
        close();
        onError(new HoneError('bad_response', `job ${jobId} sent an event that is not JSON`));
        return;
      }
      // Close before the server does: EventSource would otherwise reconnect and replay.
      if (isLastEvent(event)) close();
      onEvent(event);
    };
    source.onerror = () => {
      // EventSource reconnects by itself while CONNECTING; CLOSED means it gave up.
      if (!closed && source.readyState === 2) {
        close();
        onError(new HoneError('network', `lost the event stream of job ${jobId}`));
      }
    };
    return close;
  }
}

/** Tauri: one `api` command carries every command; job events come through a Channel. */
export class TauriTransport implements Transport {
  readonly name = 'tauri';

  constructor(
    private readonly invokeFn: typeof invoke = invoke,
    private readonly makeChannel: () => Channel<JobEvent> = () => new Channel<JobEvent>(),
  ) {}

  async call<T>(command: string, args: object): Promise<T> {
    try {
      return await this.invokeFn<T>('api', { command, args });
    } catch (e) {
      throw toHoneError(e);
    }
  }

  /** The shell's own commands, kept in its settings store (tauri-plugin-store). */
  async loadSettings(): Promise<UiSettings> {
    try {
      return normalizeSettings(await this.invokeFn<UiSettings>('get_settings'));
    } catch (e) {
      throw toHoneError(e);
    }
  }

  async saveSettings(settings: UiSettings): Promise<void> {
    try {
      await this.invokeFn<null>('set_settings', { settings });
    } catch (e) {
      throw toHoneError(e);
    }
  }

  subscribe(jobId: number, onEvent: JobListener, onError: (e: HoneError) => void): () => void {
    let closed = false;
    const channel = this.makeChannel();
    channel.onmessage = (event) => {
      if (closed) return;
      if (isLastEvent(event)) closed = true;
      onEvent(event);
    };
    this.invokeFn('subscribe_job', { jobId, onEvent: channel }).catch((e: unknown) => {
      if (!closed) {
        closed = true;
        onError(toHoneError(e));
      }
    });
    return () => {
      closed = true;
    };
  }
}

/** The desktop shell injects `__TAURI_INTERNALS__` before any script runs. */
export function isTauri(win: object = globalThis): boolean {
  return '__TAURI_INTERNALS__' in win;
}

const TOKEN_KEY = 'hone.token';

/**
 * The token of a server started with --token: opened once as `/?token=…`, then kept for the
 * tab (sessionStorage) and taken out of the address bar, so it does not end up in bookmarks.
 */
export function tokenFrom(search: string, stored: string | null): string | null {
  // A team account's token (hone_…) is typed on the sign-in page, never taken from a link:
  // a link carrying someone else's would make the person who opens it work as them.
  const shared = (t: string | null) => (t && t.trim() !== '' && !t.startsWith('hone_') ? t : null);
  return shared(new URLSearchParams(search).get('token')) ?? shared(stored);
}

function browserToken(): string | null {
  if (typeof location === 'undefined') return null;
  let stored: string | null = null;
  try {
    stored = sessionStorage.getItem(TOKEN_KEY);
  } catch {
    // storage disabled: the token lasts for this page only
  }
  const token = tokenFrom(location.search, stored);
  if (token && token !== stored) {
    try {
      sessionStorage.setItem(TOKEN_KEY, token);
    } catch {
      // as above
    }
    const url = new URL(location.href);
    url.searchParams.delete('token');
    history.replaceState(history.state, '', url);
  }
  return token;
}

export function selectTransport(win: object = globalThis): Transport {
  if (isTauri(win)) return new TauriTransport();
  return new HttpTransport('/api', undefined, undefined, win === globalThis ? browserToken() : null);
}
