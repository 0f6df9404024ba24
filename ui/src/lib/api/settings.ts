// What the transports keep of the UI's settings (UiSettings, generated from the Rust type):
// the defaults, and a reader that turns whatever was stored into a valid UiSettings.
import type { UiSettings } from './types/UiSettings';

export const THEMES = ['system', 'light', 'dark'] as const;
export type Theme = (typeof THEMES)[number];

export function isTheme(value: unknown): value is Theme {
  return typeof value === 'string' && (THEMES as readonly string[]).includes(value);
}

/** The localStorage key of the settings in a browser (one key, the JSON of UiSettings). */
export const SETTINGS_KEY = 'hone.settings';

export function defaultSettings(): UiSettings {
  return { theme: 'system', shortcuts: {}, workspace: null };
}

/**
 * A valid UiSettings from anything stored (an older or hand-edited file, another version's
 * JSON): unknown themes become `system`, shortcuts keep only string → string entries.
 */
export function normalizeSettings(raw: unknown): UiSettings {
  const out = defaultSettings();
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return out;
  const r = raw as Record<string, unknown>;
  if (isTheme(r.theme)) out.theme = r.theme;
  if (typeof r.shortcuts === 'object' && r.shortcuts !== null && !Array.isArray(r.shortcuts)) {
    for (const [action, key] of Object.entries(r.shortcuts as Record<string, unknown>)) {
      if (typeof key === 'string' && key !== '') out.shortcuts[action] = key;
    }
  }
  if (typeof r.workspace === 'string' && r.workspace !== '') out.workspace = r.workspace;
  return out;
}
