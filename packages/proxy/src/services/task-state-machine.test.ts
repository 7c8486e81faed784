/**
 * The task status machine (protocol taskTransitions): its shape, its documentation in docs/tasks.md, and that
 * the store makes illegal moves impossible even when many moves race (Postgres and PGlite).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { canTransition, isTerminal, type TaskStatus, taskStatuses, taskTransitions } from '@rclaude/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabaseKind } from '../../test/test-database.js';
import type { Database } from '../db/database.js';
import { PgTaskStore } from '../stores/pg-task-store.js';

function reachable(from: TaskStatus): Set<TaskStatus> {
  const seen = new Set<TaskStatus>([from]);
  const todo = [from];
  for (let s = todo.pop(); s !== undefined; s = todo.pop()) {
    for (const next of taskTransitions[s]) {
      if (!seen.has(next)) {
        seen.add(next);
        todo.push(next);
      }
    }
  }
  return seen;
}

describe('the task state machine', () => {
  it('reaches every status from queued, lets every live status end, and leaves an end only by a resume', () => {
    expect([...reachable('queued')].sort()).toEqual([...taskStatuses].sort());
    for (const s of taskStatuses) {
      // A task with no sandbox moves only to `starting` (a resume from a checkpoint); hibernated also to stopped.
      if (isTerminal(s))
        expect(taskTransitions[s], s).toEqual(s === 'hibernated' ? ['starting', 'stopped'] : ['starting']);
      else expect([...reachable(s)].some(isTerminal), s).toBe(true);
      expect(canTransition(s, s), `${s} -> ${s}`).toBe(false);
    }
    // Stopping only ends (or hibernates); idle goes back to running (a continued prompt) or ends.
    expect(taskTransitions.stopping.every(isTerminal)).toBe(true);
    expect([...taskTransitions.idle].sort()).toEqual(['failed', 'running', 'stopped', 'stopping', 'succeeded']);
  });

  it('is documented in docs/tasks.md exactly as the code has it', () => {
    const doc = readFileSync(new URL('../../../../docs/tasks.md', import.meta.url), 'utf8');
    const section = /<!-- transitions -->([\s\S]*?)<!-- \/transitions -->/.exec(doc)?.[1] ?? '';
    const table: Record<string, string[]> = {};
    for (const m of section.matchAll(/^\| `(\w+)` \| ([^|]*) \|/gm)) {
      table[m[1] as string] = [...(m[2] as string).matchAll(/`(\w+)`/g)].map((x) => x[1] as string);
    }
    expect(table).toEqual(Object.fromEntries(taskStatuses.map((s) => [s, [...taskTransitions[s]]])));
  });
});

/** A small deterministic PRNG, so a failure can be replayed. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

function permutations<T>(items: T[]): T[][] {
  if (items.length <= 1) return [items];
  return items.flatMap((item, i) =>
    permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((p) => [item, ...p]),
  );
}

describe.each(['postgres', 'embedded'] as TestDatabaseKind[])('moves through the store (%s)', (kind) => {
  let db: Database;
  let store: PgTaskStore;

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    store = new PgTaskStore(db.pool);
  });
  afterAll(async () => {
    await db?.close();
  });

  it('applies only legal moves when random moves race, and after an end only a resume', async () => {
    const random = rng(20310520);
    for (let t = 0; t < 12; t++) {
      const id = randomBytes(6).toString('hex');
      await store.create({
        id,
        name: id,
        owner: 'u',
        provider: 'local',
        command: ['sh'],
        prompt: null,
        repo: null,
        branch: null,
        pushBranch: null,
        mainSessionId: `${id}_main`,
      });
      let status: TaskStatus = 'queued';
      for (let round = 0; round < 8; round++) {
        const targets = Array.from(
          { length: 5 },
          () => taskStatuses[Math.floor(random() * taskStatuses.length)] as TaskStatus,
        );
        const results = await Promise.all(targets.map((to) => store.transition(id, to, { statusReason: `to ${to}` })));
        const applied = targets.filter((_, i) => results[i] !== null);
        const now = (await store.get(id))?.status as TaskStatus;
        // Some order of the moves that succeeded is a legal path from the status before the round to the one after.
        const legal = permutations(applied).some((order) => {
          let at = status;
          for (const to of order) {
            if (!canTransition(at, to)) return false;
            at = to;
          }
          return at === now;
        });
        expect(legal, `${status} -> [${applied.join(', ')}] -> ${now}`).toBe(true);
        // A task with no sandbox leaves its status only through a resume (or, hibernated, a stop for good).
        if (isTerminal(status) && applied.length > 0) {
          expect(applied.includes('starting') || (status === 'hibernated' && applied.includes('stopped'))).toBe(true);
        }
        status = now;
      }
    }
  });
});
