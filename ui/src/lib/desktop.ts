// What only the desktop shell can do: its native folder picker (tauri-plugin-dialog; the shell
// grants `dialog:allow-open`). In a browser none of this is shown.
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
