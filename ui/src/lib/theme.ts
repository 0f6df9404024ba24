// The theme: `data-theme` on <html> picks app.css's palette (`light`, `dark`); with `system`
// the palette follows prefers-color-scheme.
import type { Theme } from './api/settings';

export function applyTheme(theme: Theme, root: HTMLElement | null = globalThis.document?.documentElement ?? null): void {
  if (root) root.dataset.theme = theme;
}

/** Whether the page shows the dark palette now (charts draw on a canvas and need to know). */
export function isDark(
  root: HTMLElement | null = globalThis.document?.documentElement ?? null,
  prefersDark: () => boolean = () => globalThis.matchMedia?.('(prefers-color-scheme: dark)').matches ?? false,
): boolean {
  const theme = root?.dataset.theme;
  if (theme === 'dark') return true;
  if (theme === 'light') return false;
  return prefersDark();
}
