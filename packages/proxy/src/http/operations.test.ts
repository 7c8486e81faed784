/**
 * The unauthenticated operations routes say no more than they must: `/metrics` answers only the holder of
 * RCLAUDE_METRICS_TOKEN (and is a 404 without one configured), and `/readyz` names which dependency is not
 * ready but never why (the why goes to the log).
 */
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { errorBodySchema, loadRouteSchemas } from '@rclaude/protocol';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../test/test-server.js';
import { type AppDeps, createApp } from '../app.js';
import { ConfigError, loadConfig } from '../config.js';
import { createMetrics } from '../metrics.js';

const METRICS_TOKEN = 'metrics-token-0123456789abcdef';

async function get(url: string, authorization?: string) {
  const res = await fetch(url, { headers: authorization ? { authorization } : {} });
  const text = await res.text();
  return { status: res.status, type: res.headers.get('content-type') ?? '', text };
}

describe('/metrics without RCLAUDE_METRICS_TOKEN', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer('embedded', { env: { LOG_LEVEL: 'warn' } });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('is not there, for anyone: 404 like an unknown route, even with an admin token', async () => {
    for (const authorization of [undefined, `Bearer ${server.token}`, `Bearer ${METRICS_TOKEN}`]) {
      const res = await get(`${server.url}/metrics`, authorization);
      expect(res.status).toBe(404);
      expect(errorBodySchema.parse(JSON.parse(res.text)).error.code).toBe('NOT_FOUND');
      expect(res.text).not.toContain('rclaude_');
    }
  });
});

describe('/metrics with RCLAUDE_METRICS_TOKEN', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer('embedded', { env: { LOG_LEVEL: 'warn', RCLAUDE_METRICS_TOKEN: METRICS_TOKEN } });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('answers the Prometheus text to the token holder', async () => {
    const res = await get(`${server.url}/metrics`, `Bearer ${METRICS_TOKEN}`);
    expect(res.status).toBe(200);
    expect(res.type).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(res.text).toMatch(/^rclaude_connected_agents 0$/m);
  });

  it('refuses anyone else with 401 and no figures', async () => {
    for (const authorization of [
      undefined,
      `Bearer ${server.token}`,
      `Bearer ${METRICS_TOKEN}x`,
      `Bearer ${METRICS_TOKEN.slice(0, -1)}`,
      `Basic ${Buffer.from(`x:${METRICS_TOKEN}`).toString('base64')}`,
      METRICS_TOKEN,
    ]) {
      const res = await get(`${server.url}/metrics`, authorization);
      expect(res.status, String(authorization)).toBe(401);
      expect(errorBodySchema.parse(JSON.parse(res.text)).error.code).toBe('UNAUTHENTICATED');
      expect(res.text).not.toContain('rclaude_');
    }
  });

  it('refuses a short token at start-up', () => {
    expect(() => loadConfig({ RCLAUDE_DATA_DIR: '/tmp/rclaude-config-test', RCLAUDE_METRICS_TOKEN: 'short' })).toThrow(
      ConfigError,
    );
  });
});

describe('/readyz', () => {
  let url = '';
  let logText = '';
  let checks: Record<string, { ok: boolean; latencyMs: number; error?: string }> = {};
  let close: () => Promise<void> = async () => undefined;

  beforeAll(async () => {
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        logText += chunk.toString('utf8');
        callback();
      },
    });
    // The app alone, its readiness fed by the test: what a failing Postgres driver says is under our control.
    const deps: AppDeps = {
      routes: await loadRouteSchemas(),
      tasks: {} as AppDeps['tasks'],
      auth: {
        middleware: (_req: unknown, _res: unknown, next: () => void) => next(),
        handlers: {},
      } as unknown as AppDeps['auth'],
      metrics: createMetrics(),
      log: pino({ level: 'info' }, sink),
      files: null,
      openapi: () => ({}),
      ready: async () => checks,
      webDir: null,
    };
    const httpServer = createApp(deps).listen(0, '127.0.0.1');
    await new Promise((resolve) => httpServer.once('listening', resolve));
    url = `http://127.0.0.1:${(httpServer.address() as AddressInfo).port}`;
    close = () => new Promise((resolve) => httpServer.close(() => resolve()));
  });
  afterAll(async () => {
    await close();
  });

  it('says ready per dependency, and nothing else', async () => {
    checks = { database: { ok: true, latencyMs: 3 }, redis: { ok: true, latencyMs: 1 } };
    const res = await get(`${url}/readyz`);
    expect(res.status).toBe(200);
    expect(JSON.parse(res.text)).toEqual({ ok: true, checks: { database: { ok: true }, redis: { ok: true } } });
  });

  it('names the dependency that is not ready, logs why, and never sends the driver text', async () => {
    const driverText = 'password authentication failed for user "rclaude" at 10.1.2.3:5432';
    checks = {
      database: { ok: false, latencyMs: 12, error: driverText },
      redis: { ok: true, latencyMs: 1 },
    };
    const res = await get(`${url}/readyz`);
    expect(res.status).toBe(503);
    expect(JSON.parse(res.text)).toEqual({ ok: false, checks: { database: { ok: false }, redis: { ok: true } } });
    expect(res.text).not.toContain('10.1.2.3');
    expect(res.text).not.toContain('password');
    expect(logText).toContain('not ready');
    expect(logText).toContain(driverText.replaceAll('"', '\\"'));
  });
});
