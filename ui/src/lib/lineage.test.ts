import { describe, expect, it } from 'vitest';
import type { BaseModel } from './api/types/BaseModel';
import type { ModelVersion } from './api/types/ModelVersion';
import { ancestry, buildLineage, lineageRows } from './lineage';

const version = (id: number, name: string, parent: number | null, base = 1) =>
  ({ id, name, parent_id: parent, base_model_id: base }) as unknown as ModelVersion;
const base = (id: number, name: string) => ({ id, name }) as unknown as BaseModel;

describe('buildLineage', () => {
  it('hangs versions under their parent and parentless ones under the base', () => {
    const versions = [version(3, 'v3', 1), version(1, 'v1', null), version(2, 'v2', 1), version(4, 'v4', 2)];
    const tree = buildLineage(versions, [base(1, 'starter')]);
    expect(tree).toHaveLength(1);
    expect(tree[0].label).toBe('starter');
    expect(tree[0].children.map((n) => n.label)).toEqual(['v1']);
    expect(tree[0].children[0].children.map((n) => n.label)).toEqual(['v2', 'v3']);
    expect(tree[0].children[0].children[0].children.map((n) => n.label)).toEqual(['v4']);
  });

  it('makes one root per base model and names unknown bases', () => {
    const tree = buildLineage([version(1, 'a', null, 1), version(2, 'b', null, 2)], [base(1, 'tiny')]);
    expect(tree.map((n) => n.label)).toEqual(['tiny', 'base model 2']);
  });

  it('puts a version whose parent is missing or loops under its base', () => {
    const tree = buildLineage([version(5, 'orphan', 99), version(6, 'x', 7), version(7, 'y', 6)], [base(1, 'b')]);
    const labels = (nodes: typeof tree): string[] => nodes.flatMap((n) => [n.label, ...labels(n.children)]);
    expect(tree[0].children.map((n) => n.label)).toContain('orphan');
    // The loop 6 → 7 → 6 is broken once: every version appears exactly once.
    expect(labels(tree).sort()).toEqual(['b', 'orphan', 'x', 'y']);
  });
});

describe('lineageRows', () => {
  it('lays the tree out depth first with continuing rails', () => {
    const tree = buildLineage([version(1, 'v1', null), version(2, 'v2', 1), version(3, 'v3', null)], [base(1, 'base')]);
    const rows = lineageRows(tree);
    expect(rows.map((r) => [r.node.label, r.depth])).toEqual([
      ['base', 0],
      ['v1', 1],
      ['v2', 2],
      ['v3', 1],
    ]);
    // v2 is under v1, which has a sibling below it (v3): the rail at depth 1 continues.
    expect(rows[2].rails).toEqual([false, true]);
    expect(rows[3].last).toBe(true);
  });
});

describe('ancestry', () => {
  it('gives the chain from the base to a version', () => {
    const versions = [version(1, 'v1', null), version(2, 'v2', 1)];
    expect(ancestry(2, versions, [base(1, 'starter')])).toEqual(['starter', 'v1', 'v2']);
  });
});
