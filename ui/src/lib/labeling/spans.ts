// Span offsets: the API counts Unicode scalar values (Rust `chars`), the DOM counts UTF-16 code
// units; an emoji is one of the first and two of the second. Everything here converts between
// them, and cuts the text into segments for highlighting.

/** UTF-16 offset → scalar offset. An offset inside a surrogate pair counts the whole character. */
export function utf16ToScalar(text: string, offset: number): number {
  let scalars = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    const c = text.charCodeAt(i);
    // A low surrogate that follows a high one is the second half of one character.
    const isLowAfterHigh = c >= 0xdc00 && c <= 0xdfff && i > 0 && isHigh(text.charCodeAt(i - 1));
    if (!isLowAfterHigh) scalars++;
  }
  return scalars;
}

/** Scalar offset → UTF-16 offset. */
export function scalarToUtf16(text: string, offset: number): number {
  let i = 0;
  for (let n = 0; n < offset && i < text.length; n++) {
    i += isHigh(text.charCodeAt(i)) && i + 1 < text.length ? 2 : 1;
  }
  return i;
}

function isHigh(c: number): boolean {
  return c >= 0xd800 && c <= 0xdbff;
}

export interface Mark {
  /** Scalar offsets, end exclusive. */
  start: number;
  end: number;
  label: string;
  note: string;
}

export interface Segment {
  text: string;
  /** Indices of the marks covering this segment. */
  marks: number[];
}

/** The text cut at every mark boundary, each piece with the marks over it (overlaps allowed). */
export function segments(text: string, marks: readonly Mark[]): Segment[] {
  const cuts = new Set<number>([0, text.length]);
  const ranges = marks.map((m) => [scalarToUtf16(text, m.start), scalarToUtf16(text, m.end)] as const);
  for (const [s, e] of ranges) {
    cuts.add(s);
    cuts.add(e);
  }
  const points = [...cuts].filter((p) => p >= 0 && p <= text.length).sort((a, b) => a - b);
  const out: Segment[] = [];
  for (let i = 0; i + 1 < points.length; i++) {
    const [from, to] = [points[i], points[i + 1]];
    if (from === to) continue;
    const covering = ranges.flatMap(([s, e], index) => (s <= from && to <= e ? [index] : []));
    out.push({ text: text.slice(from, to), marks: covering });
  }
  return out;
}

/**
 * A selection (UTF-16, as the DOM reports it) as a mark range in scalars, with surrounding
 * whitespace left out; null when nothing but whitespace is selected.
 */
export function selectionToRange(text: string, from: number, to: number): { start: number; end: number } | null {
  let [a, b] = from <= to ? [from, to] : [to, from];
  a = Math.max(0, Math.min(a, text.length));
  b = Math.max(0, Math.min(b, text.length));
  while (a < b && /\s/.test(text[a])) a++;
  while (b > a && /\s/.test(text[b - 1])) b--;
  if (a === b) return null;
  return { start: utf16ToScalar(text, a), end: utf16ToScalar(text, b) };
}

/** The marked text of a mark (for the list under the response). */
export function markText(text: string, mark: Mark): string {
  return text.slice(scalarToUtf16(text, mark.start), scalarToUtf16(text, mark.end));
}

/** The words of a text (runs of non-space), as UTF-16 ranges: the steps of keyboard selection. */
export function wordRanges(text: string): { from: number; to: number }[] {
  return [...text.matchAll(/\S+/g)].map((m) => ({ from: m.index, to: m.index + m[0].length }));
}

/** A keyboard selection: word indices, the fixed end (`anchor`) and the moving end (`focus`). */
export interface WordSelection {
  anchor: number;
  focus: number;
}

/**
 * One arrow press: the selection moved (or, with `extend`, grown or shrunk) by one word,
 * kept inside the text. The first press selects the first word.
 */
export function moveSelection(sel: WordSelection | null, words: number, delta: 1 | -1, extend: boolean): WordSelection | null {
  if (words === 0) return null;
  if (sel === null) return { anchor: 0, focus: 0 };
  const focus = Math.max(0, Math.min(words - 1, sel.focus + delta));
  return extend ? { anchor: sel.anchor, focus } : { anchor: focus, focus };
}

/** The selected words as a mark range (scalars, end exclusive). */
export function selectionRange(text: string, words: readonly { from: number; to: number }[], sel: WordSelection): { start: number; end: number } {
  const first = words[Math.min(sel.anchor, sel.focus)];
  const last = words[Math.max(sel.anchor, sel.focus)];
  return { start: utf16ToScalar(text, first.from), end: utf16ToScalar(text, last.to) };
}
