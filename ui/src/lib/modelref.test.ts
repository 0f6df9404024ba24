import { describe, expect, it } from 'vitest';
import type { ModelVersion } from './api/types/ModelVersion';
import { decodeRef, encodeRef, folderName, isRewardModel, judgeVersions, refName, sameRef } from './modelref';

const version = (id: number, name: string, method: string): ModelVersion => ({
  id,
  project_id: 1,
  name,
  parent_id: null,
  base_model_id: 1,
  method,
  hyperparams: null,
  snapshot_id: null,
  metrics: {},
  adapter_dir: null,
  job_id: null,
  files: [],
  created_at: '2025-01-01T00:00:00Z',
});

describe('encodeRef and decodeRef', () => {
  it('round-trips a base folder and a version', () => {
    expect(encodeRef({ kind: 'base', dir: '/tmp/tiny' })).toBe('base:/tmp/tiny');
    expect(encodeRef({ kind: 'version', id: 7 })).toBe('version:7');
    expect(decodeRef('base:/tmp/a:b')).toEqual({ kind: 'base', dir: '/tmp/a:b' });
    expect(decodeRef('version:7')).toEqual({ kind: 'version', id: 7 });
  });
  it('reads the empty choice, and anything malformed, as none', () => {
    expect(encodeRef(null)).toBe('');
    expect(decodeRef('')).toBeNull();
    expect(decodeRef('base:')).toBeNull();
    expect(decodeRef('version:')).toBeNull();
    expect(decodeRef('version:x')).toBeNull();
  });
  it('tells the same model apart from another', () => {
    expect(sameRef(null, null)).toBe(true);
    expect(sameRef({ kind: 'version', id: 2 }, { kind: 'version', id: 2 })).toBe(true);
    expect(sameRef({ kind: 'version', id: 2 }, null)).toBe(false);
    expect(sameRef({ kind: 'base', dir: '/m' }, { kind: 'base', dir: '/n' })).toBe(false);
  });
});

describe('names', () => {
  it("gives a folder's last part", () => {
    expect(folderName('/tmp/hone-e2e-x/tiny')).toBe('tiny');
    expect(folderName('/models/SmolLM2/')).toBe('SmolLM2');
    expect(folderName('C:\\models\\qwen')).toBe('qwen');
  });
  it('names a base model by its folder and a version by its name', () => {
    const versions = [version(3, 'v1', 'sft')];
    expect(refName({ kind: 'base', dir: '/tmp/tiny' }, versions)).toBe('tiny');
    expect(refName({ kind: 'version', id: 3 }, versions)).toBe('v1');
    expect(refName({ kind: 'version', id: 9 }, versions)).toBe('version 9');
  });
});

describe('judgeVersions', () => {
  it('leaves out reward models: they score answers, they write none', () => {
    const versions = [version(1, 'v1', 'sft+dpo'), version(2, 'rm-1', 'rm'), version(3, 'v2', 'ppo')];
    expect(judgeVersions(versions).map((v) => v.name)).toEqual(['v1', 'v2']);
    expect(isRewardModel(versions[1])).toBe(true);
    expect(isRewardModel(versions[0])).toBe(false);
  });
});
