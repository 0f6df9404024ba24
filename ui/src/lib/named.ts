// Criteria and span labels typed as text: one per line ("name: what it means"), or a
// comma-separated list of names on one line.
import type { NamedItem } from './api/types/NamedItem';

export function parseNamedItems(text: string): NamedItem[] {
  const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
  const entries = lines.length === 1 && !lines[0].includes(':') ? lines[0].split(',') : lines;
  const items: NamedItem[] = [];
  for (const entry of entries) {
    const colon = entry.indexOf(':');
    const name = (colon >= 0 ? entry.slice(0, colon) : entry).trim();
    const description = colon >= 0 ? entry.slice(colon + 1).trim() : '';
    if (name && !items.some((i) => i.name === name)) items.push({ name, description });
  }
  return items;
}

/** The default "good from" on a scale: two thirds of the way up (5 on 1–7). */
export function defaultThreshold(min: number, max: number): number {
  return Math.round(min + ((max - min) * 2) / 3);
}
