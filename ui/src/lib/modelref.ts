// A ModelRef (a base model folder, or a project's version) as the pickers show and keep it:
// one string per choice for a <select> ("base:<dir>", "version:<id>", "" for none), its name
// in words, and which models can judge the AI suggestion. Pure, with unit tests beside it.
import type { ModelRef } from './api/types/ModelRef';
import type { ModelVersion } from './api/types/ModelVersion';

/** The <select> value of a choice: "base:<dir>", "version:<id>", or "" for none. */
export function encodeRef(ref: ModelRef | null): string {
  if (!ref) return '';
  return ref.kind === 'base' ? `base:${ref.dir}` : `version:${ref.id}`;
}

/** Back from a <select> value; anything else (the "none" option) is null. */
export function decodeRef(text: string): ModelRef | null {
  if (text.startsWith('base:') && text.length > 5) return { kind: 'base', dir: text.slice(5) };
  if (text.startsWith('version:')) {
    const id = Number(text.slice(8));
    return Number.isInteger(id) && text.length > 8 ? { kind: 'version', id } : null;
  }
  return null;
}

/** Whether two choices name the same model (null: none, or the latest reward model). */
export function sameRef(a: ModelRef | null, b: ModelRef | null): boolean {
  return encodeRef(a) === encodeRef(b);
}

/** The last part of a folder path: "/tmp/models/tiny/" → "tiny". */
export function folderName(dir: string): string {
  return dir.split(/[/\\]/).filter(Boolean).pop() ?? dir;
}

/** A model in words: the folder's name for a base model, the version's name for a version. */
export function refName(ref: ModelRef, versions: readonly ModelVersion[]): string {
  if (ref.kind === 'base') return folderName(ref.dir);
  return versions.find((v) => Number(v.id) === Number(ref.id))?.name ?? `version ${ref.id}`;
}

/** A reward model (a method "rm" stage) scores answers but writes none. */
export function isRewardModel(v: Pick<ModelVersion, 'method'>): boolean {
  return v.method.split('+').includes('rm');
}

/**
 * The versions that can judge the AI suggestion: those that write answers. A reward model
 * scores them instead (the latest one is the suggestion's default source).
 */
export function judgeVersions(versions: readonly ModelVersion[]): ModelVersion[] {
  return versions.filter((v) => !isRewardModel(v));
}
