import { describe, expect, it } from 'vitest';
import type { Project } from './api/types/Project';
import { checkSettings, draftOf, fieldOf, goldPercent, goldRate, QUEUE_ORDERS, queueOrderOption, settingsOf } from './project-settings';

const project: Project = {
  id: 3,
  name: 'support',
  task_description: 'Help desk answers',
  rating_min: 1,
  rating_max: 5,
  kto_threshold: 4,
  overlap: 1,
  created_at: '2026-01-01T00:00:00Z',
  promoted_version_id: null,
  queue_order: 'in_order',
  gold_rate: 0.07,
};

describe('queue orders', () => {
  it('explains each of the four orders in one line', () => {
    expect(QUEUE_ORDERS.map((o) => o.value)).toEqual(['in_order', 'random', 'least_sure', 'disagreement']);
    for (const o of QUEUE_ORDERS) {
      expect(o.explanation.length).toBeGreaterThan(10);
      expect(o.explanation).not.toContain('\n');
    }
    expect(queueOrderOption('least_sure').label).toBe('Least sure first');
  });
});

describe('gold rate as a percent', () => {
  it('converts without floating-point noise', () => {
    expect(goldPercent(0.07)).toBe(7);
    expect(goldPercent(0.1)).toBe(10);
    expect(goldPercent(0.125)).toBe(12.5);
    expect(goldRate(10)).toBe(0.1);
    expect(goldRate(50)).toBe(0.5);
    expect(goldRate(100)).toBe(1);
    expect(goldRate(0)).toBe(0);
  });
});

describe('draftOf and settingsOf', () => {
  it('round-trips a project, sending its name and a trimmed task', () => {
    const draft = draftOf(project);
    expect(draft.gold_percent).toBe(7);
    expect(settingsOf({ ...draft, task_description: '  New task ', queue_order: 'disagreement', gold_percent: 50 }, project.name)).toEqual({
      name: 'support',
      task_description: 'New task',
      rating_min: 1,
      rating_max: 5,
      kto_threshold: 4,
      overlap: 1,
      queue_order: 'disagreement',
      gold_rate: 0.5,
    });
  });
});

describe('checkSettings', () => {
  const ok = draftOf(project);
  it('accepts the project as it is', () => {
    expect(checkSettings(ok)).toBeNull();
  });
  it('refuses what the server refuses, naming its field', () => {
    expect(checkSettings({ ...ok, gold_percent: 150 })?.field).toBe('project.gold_rate');
    expect(checkSettings({ ...ok, gold_percent: -1 })?.field).toBe('project.gold_rate');
    expect(checkSettings({ ...ok, gold_percent: Number.NaN })?.field).toBe('project.gold_rate');
    expect(checkSettings({ ...ok, overlap: 0 })?.field).toBe('project.overlap');
    expect(checkSettings({ ...ok, overlap: 1.5 })?.field).toBe('project.overlap');
    expect(checkSettings({ ...ok, rating_max: 1 })?.field).toBe('project.rating_max');
    expect(checkSettings({ ...ok, kto_threshold: 6 })?.field).toBe('project.kto_threshold');
    expect(checkSettings({ ...ok, rating_min: 1.5 })?.field).toBe('project.rating_min');
  });
  it('says what is wrong in words', () => {
    expect(checkSettings({ ...ok, gold_percent: 150 })?.message).toBe('must be between 0% and 100%');
    expect(checkSettings({ ...ok, kto_threshold: 6 })?.human).toBe('must be on the rating scale 1–5 (project.kto_threshold)');
  });
});

describe('fieldOf', () => {
  it("maps the server's field names to the form's inputs", () => {
    expect(fieldOf('project.gold_rate')).toBe('gold_percent');
    expect(fieldOf('project.overlap')).toBe('overlap');
    expect(fieldOf('project.kto_threshold')).toBe('kto_threshold');
    expect(fieldOf('settings.queue_order')).toBe('queue_order');
    expect(fieldOf('project.name')).toBeNull();
    expect(fieldOf(null)).toBeNull();
    expect(fieldOf(undefined)).toBeNull();
  });
});
