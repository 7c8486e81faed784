/**
 * What an unexpected failure answers: `500 INTERNAL`, "internal error" and the request's id, never the
 * driver's text, a stack or a path; the detail goes to the log under the same id. The failure here is real:
 * the server's Postgres schema loses its `tasks` table under it.
 */
import { Writable } from 'node:stream';
import { errorBodySchema } from '@rclaude/protocol';
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDatabaseUrl } from '../../test/test-database.js';
import { startTestServer, type TestServer } from '../../test/test-server.js';

describe('errors that do not leak', () => {
  let server: TestServer;
  let logText = '';
  let db: pg.Client;

  beforeAll(async () => {
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        logText += chunk.toString('utf8');
        callback();
      },
    });
    server = await startTestServer('postgres', { deps: { log: pino({ level: 'info' }, sink) } });
    db = new pg.Client({ connectionString: testDatabaseUrl() });
    await db.connect();
    await db.query(`SET search_path TO "${server.schema}"`);
  });
  afterAll(async () => {
    await db?.end();
    await server?.close();
  });

  const get = (p: string, headers: Record<string, string> = {}) =>
    fetch(`${server.url}${p}`, { headers: { authorization: `Bearer ${server.token}`, ...headers } });

  it('answers a database failure with "internal error" and the request id; the log has the rest', async () => {
    expect((await get('/api/tasks')).status).toBe(200);
    await db.query('ALTER TABLE tasks RENAME TO tasks_gone');
    let res: Response;
    let text: string;
    try {
      res = await get('/api/tasks');
      text = await res.text();
    } finally {
      await db.query('ALTER TABLE tasks_gone RENAME TO tasks');
    }
    expect(res.status).toBe(500);
    const requestId = res.headers.get('x-request-id');
    expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(errorBodySchema.parse(JSON.parse(text))).toEqual({
      error: { code: 'INTERNAL', message: 'internal error', details: { requestId } },
    });
    for (const leak of ['tasks', 'relation', 'exist', ' at ', '.ts', '.js', server.schema ?? 'no schema']) {
      expect(text).not.toContain(leak);
    }
    // The operator finds the failure by the id the user reports.
    const line = logText.split('\n').find((l) => l.includes('"request failed"') && l.includes(requestId ?? '?'));
    expect(line).toBeDefined();
    expect(line).toMatch(/relation .*tasks.* does not exist/);
    // And the server is fine again once the table is back.
    expect((await get('/api/tasks')).status).toBe(200);
  });

  it("keeps a caller's own request id when it is a plain token, and replaces anything else", async () => {
    const mine = await get('/api/tasks', { 'x-request-id': 'cli-7f3a.2:1' });
    expect(mine.headers.get('x-request-id')).toBe('cli-7f3a.2:1');
    for (const odd of ['has space', 'quote"d', 'x'.repeat(65), '{"json":1}']) {
      const res = await get('/api/tasks', { 'x-request-id': odd });
      expect(res.headers.get('x-request-id'), odd).toMatch(/^[0-9a-f-]{36}$/);
    }
  });

  it('answers a malformed path as a client error, not an internal one', async () => {
    for (const p of ['/api/tasks/%E0%A4%A', '/api/tasks/%E0%A4%A/events', '/api/sessions/%ZZ']) {
      const res = await get(p);
      const text = await res.text();
      expect(res.status, `${p}: ${text}`).toBe(400);
      expect(errorBodySchema.parse(JSON.parse(text)).error.code).toBe('BAD_REQUEST');
      expect(text).not.toMatch(/ at |URIError|node_modules|decode/);
    }
  });
});
