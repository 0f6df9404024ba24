import { describe, expect, it } from 'vitest';
import type { Progress } from './api/types/Progress';
import { duration, jobProgress, referenceProgress, trainingProgress } from './progress';

const step = (s: number, total: number, loss: number, eta: number): Progress => ({
  step: s,
  total_steps: total,
  epoch: 0,
  loss,
  learning_rate: 1e-4,
  grad_norm: 1,
  tokens_per_second: 100,
  eta_seconds: eta,
  metrics: [],
});

describe('jobProgress', () => {
  it('counts done of total once the total is known', () => {
    expect(jobProgress({ done: 3, total: 12, message: 'files' })).toEqual({ value: 0.25, label: '3 / 12 files' });
    expect(jobProgress({ done: 13, total: 12, message: 'files' }).value).toBe(1);
  });
  it('is indeterminate before, with the message or "Starting…"', () => {
    expect(jobProgress({ done: 0, total: 0, message: 'listing the shards' })).toEqual({ value: null, label: 'listing the shards' });
    expect(jobProgress({ done: 0, total: 0, message: '' })).toEqual({ value: null, label: 'Starting…' });
  });
});

describe('trainingProgress', () => {
  it('says what happens before the first step', () => {
    expect(trainingProgress(null, 'Preparing…')).toEqual({ value: null, label: 'Preparing…' });
  });
  it('gives the step, the loss, and the method and time left when asked', () => {
    expect(trainingProgress(step(3, 12, 0.693147, 42), 'Preparing…')).toEqual({ value: 0.25, label: 'step 3 / 12 · loss 0.6931' });
    expect(trainingProgress(step(3, 12, 0.693147, 130), '', { method: 'dpo', eta: true }).label).toBe('dpo step 3 / 12 · loss 0.6931 · 2 min left');
  });
  it('does not divide by zero steps', () => {
    expect(trainingProgress(step(0, 0, 1, 0), '').value).toBe(0);
  });
});

describe('referenceProgress', () => {
  it('says how far the reference pass got', () => {
    expect(referenceProgress({ method: 'dpo', scored: 1200, total: 4000 })).toEqual({
      value: 0.3,
      label: 'dpo: scoring answers under the reference model, 1,200 / 4,000',
    });
  });
  it('does not divide by zero answers', () => {
    expect(referenceProgress({ method: 'kto', scored: 0, total: 0 }).value).toBe(0);
  });
});

describe('duration', () => {
  it('reads seconds under a minute and a half, else minutes', () => {
    expect(duration(42.4)).toBe('42 s');
    expect(duration(89)).toBe('89 s');
    expect(duration(150)).toBe('3 min');
  });
});
