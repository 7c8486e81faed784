import { describe, expect, it } from 'vitest';
import { pendingHibernation } from './task-checkpoints.js';

const now = Date.parse('2025-01-01T10:00:00.000Z');
const warning = (seq: number, inMs: number) => ({
  seq,
  type: 'info' as const,
  data: { message: 'hibernating in 1 min', hibernateAt: new Date(now + inMs).toISOString() },
});

describe('pendingHibernation', () => {
  it('is the latest warning while the task is live and nothing happened since (a checkpoint aside)', () => {
    const checkpoint = { seq: 3, type: 'checkpoint' as const, data: { trigger: 'periodic' } };
    expect(pendingHibernation({ status: 'idle' }, [warning(2, 60_000), checkpoint], now)).toEqual({
      seq: 2,
      message: 'hibernating in 1 min',
      hibernateAt: now + 60_000,
    });
  });

  it('is null once something happened after the warning, once the task has no sandbox, or long after', () => {
    const output = { seq: 3, type: 'activity' as const, data: { activity: 'working' } };
    expect(pendingHibernation({ status: 'running' }, [warning(2, 60_000), output], now)).toBeNull();
    expect(pendingHibernation({ status: 'hibernated' }, [warning(2, 60_000)], now)).toBeNull();
    expect(pendingHibernation({ status: 'running' }, [warning(2, -60_000)], now)).toBeNull();
    expect(
      pendingHibernation({ status: 'running' }, [{ seq: 1, type: 'info', data: { message: 'x' } }], now),
    ).toBeNull();
  });
});
