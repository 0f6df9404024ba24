import { afterEach, describe, expect, it } from 'vitest';
import { accountStateOf, currentAccount } from './account.svelte';
import * as api from './api/api';
import { HoneError } from './api/errors';
import { settings } from './settings.svelte';

/** A transport that answers each command from `answers` (a thrown object is an API error). */
function transport(answers: Record<string, () => unknown>, calls: string[]): Parameters<typeof api.setTransport>[0] {
  return {
    name: 'http',
    call: async <T>(command: string) => {
      calls.push(command);
      return answers[command]() as T;
    },
    subscribe: () => () => {},
    loadSettings: async () => ({ theme: 'system', shortcuts: {}, workspace: null }),
    saveSettings: async () => {},
  };
}

describe('who is signed in to a team server', () => {
  afterEach(() => api.setTransport(null));

  it('reads whoami: null is a local server, unauthorized asks to sign in, other errors do not', () => {
    expect(accountStateOf(null)).toEqual({ kind: 'local' });
    expect(accountStateOf({ id: 2, name: 'ana', role: 'annotator' })).toEqual({
      kind: 'signed-in',
      account: { id: 2, name: 'ana', role: 'annotator' },
    });
    expect(accountStateOf(new HoneError('unauthorized', 'sign in'))).toEqual({ kind: 'signed-out' });
    expect(accountStateOf(new HoneError('unknown_command', 'no whoami'))).toEqual({ kind: 'local' });
    for (const code of ['network', 'forbidden', 'internal']) {
      const state = accountStateOf(new HoneError(code, 'refused here'));
      expect(state.kind).toBe('unreachable');
      expect(state.kind === 'unreachable' && state.message).toContain('refused here');
    }
  });

  it('signs in with a token, labels under the account name, and signs out', async () => {
    const calls: string[] = [];
    let signedIn = false;
    api.setTransport(
      transport(
        {
          whoami: () => {
            if (!signedIn) throw new HoneError('unauthorized', 'this team server needs you to sign in');
            return { id: 2, name: 'ana', role: 'annotator' };
          },
          session: () => {
            signedIn = true;
            return { id: 2, name: 'ana', role: 'annotator' };
          },
          'session/end': () => {
            signedIn = false;
            return null;
          },
        },
        calls,
      ),
    );
    settings.annotator = 'someone typed this';
    await currentAccount.load();
    expect(currentAccount.state.kind).toBe('signed-out');
    expect(await currentAccount.signIn('  hone_abc_def  ')).toBe(true);
    expect(currentAccount.account?.name).toBe('ana');
    expect(settings.annotator).toBe('ana');
    await currentAccount.signOut();
    expect(currentAccount.state.kind).toBe('signed-out');
    expect(calls).toEqual(['whoami', 'session', 'session/end']);
  });

  it('says why a token does not sign in', async () => {
    api.setTransport(
      transport(
        {
          session: () => {
            throw new HoneError('unauthorized', 'this token does not sign in');
          },
        },
        [],
      ),
    );
    expect(await currentAccount.signIn('hone_wrong')).toBe(false);
    expect(currentAccount.error).toContain('this token does not sign in');
  });
});
