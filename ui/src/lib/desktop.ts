// What only the desktop shell can do: its native folder picker (tauri-plugin-dialog; the shell
// grants `dialog:allow-open`), and working with a team server instead of this machine's
// workspace (the shell's connect_team_server). In a browser none of this is shown.
import { invoke } from '@tauri-apps/api/core';
import { open } from '@tauri-apps/plugin-dialog';
import { isTauri } from './api/transport';

/** Whether the UI runs in the desktop shell (native dialogs available). */
export function inDesktop(): boolean {
  return isTauri();
}

/** Asks for a folder with the system's picker; null when cancelled. */
export async function pickFolder(title: string, startAt?: string): Promise<string | null> {
  const picked = await open({ directory: true, multiple: false, title, defaultPath: startAt?.trim() || undefined });
  return typeof picked === 'string' ? picked : null;
}

/** Asks for a GGUF model file (what LM Studio, Ollama and llama.cpp keep); null when cancelled. */
export async function pickGgufFile(title: string, startAt?: string): Promise<string | null> {
  const picked = await open({
    directory: false,
    multiple: false,
    title,
    defaultPath: startAt?.trim() || undefined,
    filters: [{ name: 'GGUF model', extensions: ['gguf'] }],
  });
  return typeof picked === 'string' ? picked : null;
}

/** Where the desktop's commands go: this machine's workspace, or a team server. */
export type Connection = { kind: 'local'; workspace: string } | { kind: 'team'; url: string };

export async function connection(): Promise<Connection> {
  return invoke<Connection>('connection');
}

/** Works with the team server at `url` as the account of `token` (checked first); the account. */
export async function connectTeamServer(url: string, token: string): Promise<{ name: string; role: string }> {
  return invoke('connect_team_server', { url, token });
}

/** Back to this machine's workspace. */
export async function disconnectTeamServer(): Promise<void> {
  await invoke('disconnect_team_server');
}
