// Version lineage: base model → v1 → v2 …, by each version's parent_id (a version without a
// parent hangs under its base model). Built as a tree, then laid out as rows for drawing.
import type { BaseModel } from './api/types/BaseModel';
import type { ModelVersion } from './api/types/ModelVersion';

export interface LineageNode {
  key: string;
  kind: 'base' | 'version';
  id: number;
  label: string;
  version: ModelVersion | null;
  children: LineageNode[];
}

/** Roots are base models; each version sits under its parent, or its base when it has none. */
export function buildLineage(versions: readonly ModelVersion[], bases: readonly BaseModel[]): LineageNode[] {
  const byId = new Map<number, LineageNode>();
  for (const v of versions) {
    byId.set(Number(v.id), { key: `v${v.id}`, kind: 'version', id: Number(v.id), label: v.name, version: v, children: [] });
  }
  const roots = new Map<number, LineageNode>();
  const baseNode = (baseId: number): LineageNode => {
    let node = roots.get(baseId);
    if (!node) {
      const base = bases.find((b) => Number(b.id) === baseId);
      node = { key: `b${baseId}`, kind: 'base', id: baseId, label: base ? base.name : `base model ${baseId}`, version: null, children: [] };
      roots.set(baseId, node);
    }
    return node;
  };
  const parentOf = new Map(versions.map((v) => [Number(v.id), v.parent_id === null ? null : Number(v.parent_id)]));
  for (const v of versions) {
    const node = byId.get(Number(v.id))!;
    const parent = v.parent_id === null ? undefined : byId.get(Number(v.parent_id));
    // A parent that is missing (another project, deleted) or a cycle: hang it under its base.
    if (parent && !chainReaches(parent.id, node.id, parentOf)) parent.children.push(node);
    else baseNode(Number(v.base_model_id)).children.push(node);
  }
  const sortTree = (nodes: LineageNode[]) => {
    nodes.sort((a, b) => a.id - b.id);
    nodes.forEach((n) => sortTree(n.children));
  };
  const out = [...roots.values()];
  sortTree(out);
  return out;
}

/** Whether walking up the parents from `from` reaches `target` (hanging there would loop). */
function chainReaches(from: number, target: number, parentOf: Map<number, number | null>): boolean {
  const seen = new Set<number>();
  let current: number | null = from;
  while (current !== null && !seen.has(current)) {
    if (current === target) return true;
    seen.add(current);
    current = parentOf.get(current) ?? null;
  }
  return false;
}

export interface LineageRow {
  node: LineageNode;
  depth: number;
  /** For each ancestor level, whether a vertical line continues past this row. */
  rails: boolean[];
  last: boolean;
}

/** Depth-first rows for an indented tree with connector lines. */
export function lineageRows(roots: readonly LineageNode[]): LineageRow[] {
  const rows: LineageRow[] = [];
  const walk = (nodes: readonly LineageNode[], depth: number, rails: boolean[]) => {
    nodes.forEach((node, i) => {
      const last = i === nodes.length - 1;
      rows.push({ node, depth, rails, last });
      walk(node.children, depth + 1, [...rails, !last]);
    });
  };
  walk(roots, 0, []);
  return rows;
}

/** "base → v1 → v2": the chain from the root to a version. */
export function ancestry(versionId: number, versions: readonly ModelVersion[], bases: readonly BaseModel[]): string[] {
  const byId = new Map(versions.map((v) => [Number(v.id), v]));
  const chain: string[] = [];
  const seen = new Set<number>();
  let v = byId.get(versionId);
  let baseId: number | null = null;
  while (v && !seen.has(Number(v.id))) {
    seen.add(Number(v.id));
    chain.unshift(v.name);
    baseId = Number(v.base_model_id);
    v = v.parent_id === null ? undefined : byId.get(Number(v.parent_id));
  }
  if (baseId !== null) chain.unshift(bases.find((b) => Number(b.id) === baseId)?.name ?? `base model ${baseId}`);
  return chain;
}
