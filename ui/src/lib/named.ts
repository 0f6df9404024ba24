// Criteria and span labels typed as text: one per line ("name: what it means"), or a
// comma-separated list of names on one line.
import type { NamedItem } from './api/types/NamedItem';
import type { SpanLabel } from './api/types/SpanLabel';

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

/** Span labels from two texts: labels for what is wrong, then labels for what is good (a name
 * in both is sent twice, and the server refuses it naming the field). Without an error label
 * the server puts its default ones first. */
export function parseSpanLabels(errors: string, good: string): SpanLabel[] {
  const wrong = parseNamedItems(errors).map((i): SpanLabel => ({ ...i, polarity: 'error' }));
  const right = parseNamedItems(good).map((i): SpanLabel => ({ ...i, polarity: 'good' }));
  return [...wrong, ...right];
}

/** The default "good from" on a scale: two thirds of the way up (5 on 1–7). */
export function defaultThreshold(min: number, max: number): number {
  return Math.round(min + ((max - min) * 2) / 3);
}
