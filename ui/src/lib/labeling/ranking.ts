// Ranking by picks: the expert names the best remaining answer, then the next, …; the order
// holds indices into the responses as shown. Drag and drop reorders the same list.
import type { ResponseId } from '$lib/api/types/ResponseId';

/** Adds shown response `index` as the next best; when one is left it goes last by itself. */
export function pick(order: readonly number[], index: number, count: number): number[] {
  if (index < 0 || index >= count || order.includes(index)) return [...order];
  const next = [...order, index];
  if (next.length === count - 1) {
    for (let i = 0; i < count; i++) if (!next.includes(i)) next.push(i);
  }
  return next;
}

/** Takes back the last pick (two when the last one was placed automatically). */
export function unpick(order: readonly number[], count: number): number[] {
  if (order.length === count && count >= 2) return order.slice(0, count - 2);
  return order.slice(0, -1);
}

/** Moves the entry at `from` to `to` (drag and drop of a complete or partial ranking). */
export function move(order: readonly number[], from: number, to: number): number[] {
  if (from === to || from < 0 || from >= order.length || to < 0 || to >= order.length) return [...order];
  const next = [...order];
  const [item] = next.splice(from, 1);
  next.splice(to, 0, item);
  return next;
}

/** Response ids best first, or null while the ranking is incomplete. */
export function rankedIds(order: readonly number[], shownIds: readonly ResponseId[]): ResponseId[] | null {
  if (order.length !== shownIds.length) return null;
  return order.map((i) => shownIds[i]);
}

/** The rank (1 = best) each shown response has so far, by shown index. */
export function ranksByShown(order: readonly number[], count: number): (number | null)[] {
  const ranks: (number | null)[] = Array.from({ length: count }, () => null);
  order.forEach((shownIndex, rank) => (ranks[shownIndex] = rank + 1));
  return ranks;
}
