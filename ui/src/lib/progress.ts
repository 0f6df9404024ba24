// What a running job's progress bar shows: its value (null while the total is unknown: an
// indeterminate stripe) and its line of text, from the job's own progress events or, for a
// fine-tune, from its training steps. Pure, with unit tests beside it.
import type { Progress } from './api/types/Progress';

export interface ProgressView {
  /** Fraction done, 0 to 1, or null when it is not known. */
  value: number | null;
  label: string;
}

/** A job's progress events: "3 / 10 files", its message before the total is known, or "Starting…". */
export function jobProgress(job: { done: number; total: number; message: string }): ProgressView {
  if (job.total > 0) return { value: Math.min(1, job.done / job.total), label: `${job.done} / ${job.total} ${job.message}` };
  return { value: null, label: job.message || 'Starting…' };
}

/** A remaining time in words: "42 s", "3 min". */
export function duration(seconds: number): string {
  return seconds < 90 ? `${Math.round(seconds)} s` : `${Math.round(seconds / 60)} min`;
}

/**
 * A fine-tune's last training step: "dpo step 3 / 10 · loss 0.6931 · 42 s left" (the method
 * and the time left when asked for); before the first step, `preparing`.
 */
export function trainingProgress(last: Progress | null, preparing: string, options: { method?: string; eta?: boolean } = {}): ProgressView {
  if (!last) return { value: null, label: preparing };
  const step = Number(last.step);
  const total = Number(last.total_steps);
  const parts = [`${options.method ? `${options.method} ` : ''}step ${step} / ${total}`, `loss ${last.loss.toFixed(4)}`];
  if (options.eta) parts.push(`${duration(last.eta_seconds)} left`);
  return { value: step / Math.max(1, total), label: parts.join(' · ') };
}

/**
 * A preference stage's reference pass, before its first step: "dpo: scoring answers under the
 * reference model, 1,200 / 4,000" (minutes on a large project, so it says how far it got).
 */
export function referenceProgress(pass: { method: string; scored: number; total: number }): ProgressView {
  const total = Math.max(1, pass.total);
  const n = (k: number) => k.toLocaleString('en-US');
  return {
    value: Math.min(1, pass.scored / total),
    label: `${pass.method}: scoring answers under the reference model, ${n(pass.scored)} / ${n(pass.total)}`,
  };
}
