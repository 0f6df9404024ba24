import { describe, expect, it } from 'vitest';
import type { FineTuneEvent } from './api/types/FineTuneEvent';
import type { MetricPoint } from './api/types/MetricPoint';
import { addEvent, align, curvesFromPoints, formatTick, lastValue, type Curves } from './curves';

const progress = (method: string, step: number, loss: number, metrics: [string, number][]) =>
  ({ event: 'progress', method, progress: { step, total_steps: 10, epoch: 0, loss, metrics } }) as unknown as FineTuneEvent;

describe('curves', () => {
  it('collects loss and metrics per stage from progress events, ignoring other events', () => {
    const curves: Curves = new Map();
    expect(addEvent(curves, { event: 'stage_started' } as unknown as FineTuneEvent)).toBe(false);
    addEvent(curves, progress('sft', 1, 2.5, []));
    addEvent(curves, progress('sft', 2, 2.0, []));
    addEvent(curves, progress('dpo', 1, 0.69, [['rewards/accuracies', 0.5]]));
    expect([...curves.keys()]).toEqual(['sft', 'dpo']);
    expect([...curves.get('sft')!.get('loss')!.entries()]).toEqual([
      [1, 2.5],
      [2, 2.0],
    ]);
    expect(curves.get('dpo')!.get('rewards/accuracies')!.get(1)).toBe(0.5);
  });

  it('overwrites a replayed step instead of adding it twice, and drops non-finite values', () => {
    const curves: Curves = new Map();
    addEvent(curves, progress('sft', 1, 3, []));
    addEvent(curves, progress('sft', 1, 3, []));
    addEvent(curves, progress('sft', 2, Number.NaN, []));
    expect(curves.get('sft')!.get('loss')!.size).toBe(1);
  });

  it('splits stored metric names into stage and metric', () => {
    const points = [
      { name: 'sft/loss', step: 1, value: 2 },
      { name: 'dpo/rewards/margins', step: 3, value: 0.1 },
    ] as MetricPoint[];
    const curves = curvesFromPoints(points);
    expect(curves.get('sft')!.get('loss')!.get(1)).toBe(2);
    expect(curves.get('dpo')!.get('rewards/margins')!.get(3)).toBe(0.1);
  });

  it('aligns series on the union of steps with gaps as null', () => {
    const a = new Map([
      [1, 10],
      [3, 30],
    ]);
    const b = new Map([[2, 20]]);
    expect(align([a, b])).toEqual([
      [1, 2, 3],
      [10, null, 30],
      [null, 20, null],
    ]);
    expect(lastValue(a)).toBe(30);
    expect(lastValue(undefined)).toBeNull();
  });
});

describe('formatTick', () => {
  it('keeps small learning rates apart instead of printing 0', () => {
    expect(formatTick(2e-4)).toBe('2.0e-4');
    expect(formatTick(1.5e-4)).not.toBe(formatTick(2e-4));
  });
  it('prints ordinary values plainly and large ones compactly', () => {
    expect(formatTick(0.5)).toBe('0.5');
    expect(formatTick(6.25)).toBe('6.25');
    expect(formatTick(0)).toBe('0');
    expect(formatTick(250000)).toBe('2.5e5');
  });
});
