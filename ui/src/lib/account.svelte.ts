// Who is signed in to a team server (hone serve --team). Outside team mode `whoami` answers
// null and nothing changes; in team mode the server answers `unauthorized` until the person
// signs in (their token, once, for a session cookie the page's scripts never see), and
// judgments are recorded under the account's name, not a typed one.
import { signIn, signOut, whoami } from './api/api';
import { describeError, HoneError } from './api/errors';
import type { Account } from './api/types/Account';
import { settings } from './settings.svelte';

export type AccountState =
  | { kind: 'unknown' }
  | { kind: 'local' }
  | { kind: 'signed-in'; account: Account }
  | { kind: 'signed-out' }
  | { kind: 'unreachable'; message: string };

/** What a `whoami` answer (or its error) means for the page: a server that refuses the page
 *  or cannot be reached is said so, not taken for a local workspace (whose calls would all
 *  fail after it); only a server too old to know `whoami` is one. */
export function accountStateOf(answer: Account | null | HoneError): AccountState {
  if (answer instanceof HoneError) {
    if (answer.code === 'unauthorized') return { kind: 'signed-out' };
    if (answer.code === 'unknown_command') return { kind: 'local' };
    return { kind: 'unreachable', message: describeError(answer) };
  }
  return answer === null ? { kind: 'local' } : { kind: 'signed-in', account: answer };
}

class CurrentAccount {
  state = $state<AccountState>({ kind: 'unknown' });
  error = $state('');

  get account(): Account | null {
    return this.state.kind === 'signed-in' ? this.state.account : null;
  }

  #apply(next: AccountState) {
    this.state = next;
    // Judgments carry the account's name; the server would refuse another one.
    if (next.kind === 'signed-in') settings.annotator = next.account.name;
  }

  async load(): Promise<void> {
    try {
      this.#apply(accountStateOf(await whoami()));
    } catch (e) {
      this.#apply(accountStateOf(e instanceof HoneError ? e : new HoneError('network', String(e))));
    }
  }

  async signIn(token: string): Promise<boolean> {
    this.error = '';
    try {
      this.#apply({ kind: 'signed-in', account: await signIn(token.trim()) });
      return true;
    } catch (e) {
      this.error = describeError(e);
      return false;
    }
  }

  async signOut(): Promise<void> {
    try {
      await signOut();
    } finally {
      this.state = { kind: 'signed-out' };
    }
  }
}

export const currentAccount = new CurrentAccount();
