// A word-level diff for the edit screen: what the expert changed, shown as the text is typed.
// Tokens are words and the whitespace between them, so joining a side's tokens gives its text
// back exactly. Longest common subsequence over tokens after trimming the common prefix and
// suffix (most edits touch a small part of the answer, so the table stays small).

export type DiffOp = 'equal' | 'insert' | 'delete';

export interface DiffPart {
  op: DiffOp;
  text: string;
}

/** Words (any run of non-space characters) and the runs of whitespace between them. */
export function tokenize(text: string): string[] {
  return text.match(/\s+|[^\s]+/g) ?? [];
}

/** Above this many table cells the middle is shown as one deletion and one insertion. */
const MAX_CELLS = 4_000_000;

function push(parts: DiffPart[], op: DiffOp, text: string) {
  if (text.length === 0) return;
  const last = parts[parts.length - 1];
  if (last && last.op === op) last.text += text;
  else parts.push({ op, text });
}

/** The LCS diff of two token lists, as parts in reading order (deletions before insertions). */
function lcsDiff(a: string[], b: string[], parts: DiffPart[]) {
  const n = a.length;
  const m = b.length;
  if (n === 0 || m === 0 || n * m > MAX_CELLS) {
    push(parts, 'delete', a.join(''));
    push(parts, 'insert', b.join(''));
    return;
  }
  // lengths[i][j] = LCS length of a[i..] and b[j..], one flat row-major array.
  const width = m + 1;
  const lengths = new Uint32Array((n + 1) * width);
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lengths[i * width + j] =
        a[i] === b[j]
          ? lengths[(i + 1) * width + j + 1] + 1
          : Math.max(lengths[(i + 1) * width + j], lengths[i * width + j + 1]);
    }
  }
  let i = 0;
  let j = 0;
  let deleted = '';
  let inserted = '';
  const flush = () => {
    push(parts, 'delete', deleted);
    push(parts, 'insert', inserted);
    deleted = '';
    inserted = '';
  };
  while (i < n && j < m) {
    if (a[i] === b[j]) {
      flush();
      push(parts, 'equal', a[i]);
      i++;
      j++;
    } else if (lengths[(i + 1) * width + j] >= lengths[i * width + j + 1]) {
      deleted += a[i++];
    } else {
      inserted += b[j++];
    }
  }
  deleted += a.slice(i).join('');
  inserted += b.slice(j).join('');
  flush();
}

/** How `after` differs from `before`, word by word. */
export function diffWords(before: string, after: string): DiffPart[] {
  const a = tokenize(before);
  const b = tokenize(after);
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) {
    endA--;
    endB--;
  }
  const parts: DiffPart[] = [];
  push(parts, 'equal', a.slice(0, start).join(''));
  lcsDiff(a.slice(start, endA), b.slice(start, endB), parts);
  push(parts, 'equal', a.slice(endA).join(''));
  return parts;
}

/** The text of one side of a diff: `before` (equal + delete) or `after` (equal + insert). */
export function sideText(parts: DiffPart[], side: 'before' | 'after'): string {
  const skip: DiffOp = side === 'before' ? 'insert' : 'delete';
  return parts
    .filter((p) => p.op !== skip)
    .map((p) => p.text)
    .join('');
}

/** Words added and removed, for a one-line summary beside the diff. */
export function diffStats(parts: DiffPart[]): { inserted: number; deleted: number } {
  const words = (t: string) => tokenize(t).filter((w) => w.trim().length > 0).length;
  let inserted = 0;
  let deleted = 0;
  for (const p of parts) {
    if (p.op === 'insert') inserted += words(p.text);
    if (p.op === 'delete') deleted += words(p.text);
  }
  return { inserted, deleted };
}
