import { describe, expect, it } from 'vitest';
import { TurnMeter, TurnWorker, yieldTurn } from '../src/index.js';

describe('bounded turns', () => {
  it('TurnMeter resets on the next event-loop turn, not in microtasks', async () => {
    const m = new TurnMeter({ requests: 2, bytes: 100 });
    m.spend(10);
    m.spend(10);
    expect(m.exhausted).toBe(true);
    await Promise.resolve();
    expect(m.exhausted).toBe(true);
    await yieldTurn();
    expect(m.exhausted).toBe(false);
    m.spend(150, 0);
    expect(m.exhausted).toBe(true);
  });

  it('TurnMeter.room lets other callbacks run between slices', async () => {
    const m = new TurnMeter({ requests: 1, bytes: 1 << 30 });
    const order: string[] = [];
    setImmediate(() => order.push('other'));
    for (let i = 0; i < 3; i++) {
      await m.room();
      m.spend(0);
      order.push(`slice${i}`);
    }
    await new Promise((r) => setTimeout(r, 5));
    expect(order.indexOf('other')).toBeLessThan(order.indexOf('slice2'));
  });

  it('TurnWorker runs one slice per turn however often it is kicked, and stops on cancel', async () => {
    let left = 5;
    let runs = 0;
    const w = new TurnWorker(() => {
      runs++;
      left--;
      return left > 0;
    });
    w.kick();
    w.kick();
    w.kick();
    expect(runs).toBe(1);
    expect(w.pending).toBe(true);
    await yieldTurn();
    expect(runs).toBe(2);
    w.cancel();
    await yieldTurn();
    await yieldTurn();
    expect(runs).toBe(2);
    expect(w.pending).toBe(false);
  });
});
