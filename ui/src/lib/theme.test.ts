import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { applyTheme, isDark } from './theme';

describe('theme', () => {
  it('sets data-theme on the root and reads it back', () => {
    const root = document.createElement('html');
    applyTheme('dark', root);
    expect(root.dataset.theme).toBe('dark');
    expect(isDark(root, () => false)).toBe(true);
    applyTheme('light', root);
    expect(isDark(root, () => true)).toBe(false);
  });

  it('follows the system only when the theme is system (or not set yet)', () => {
    const root = document.createElement('html');
    expect(isDark(root, () => true)).toBe(true);
    applyTheme('system', root);
    expect(isDark(root, () => true)).toBe(true);
    expect(isDark(root, () => false)).toBe(false);
  });

  it('has one dark palette in app.css, for data-theme=dark and for a dark system', () => {
    // (no `new URL`: jsdom replaces the global URL class, which node:fs does not take)
    const css = readFileSync(join(dirname(fileURLToPath(import.meta.url)), '../app.css'), 'utf8');
    const block = (selector: string) => {
      const start = css.indexOf(`${selector} {`);
      expect(start).toBeGreaterThan(-1);
      const body = css.slice(start + selector.length + 2, css.indexOf('}', start));
      return body
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l.startsWith('--'));
    };
    const chosen = block(":root[data-theme='dark']");
    const system = block(":root:not([data-theme='light']):not([data-theme='dark'])");
    expect(chosen.length).toBeGreaterThan(20);
    expect(system).toEqual(chosen);
    expect(css).toMatch(/@media \(prefers-color-scheme: dark\) \{\s*:root:not\(\[data-theme='light'\]\):not\(\[data-theme='dark'\]\)/);
  });
});
