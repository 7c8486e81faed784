import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { errorCodes } from './errors.js';
import { type LoadedRoute, loadRouteSchemas, routeErrors, routeNames, routeSchemas, routes } from './routes.js';

const loaded = await loadRouteSchemas();
const all = routeNames.map((name) => [name, loaded[name] as LoadedRoute] as const);

describe('the route table', () => {
  it('declares each method and path once', () => {
    const keys = all.map(([, r]) => `${r.method} ${r.path}`);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('has a schema for exactly the parameters of each path', () => {
    for (const [name, r] of all) {
      const inPath = [...r.path.matchAll(/:(\w+)/g)].map((m) => m[1]);
      expect(Object.keys(r.params?.shape ?? {}), name).toEqual(inPath);
    }
  });

  it('gives each route one kind of body and one kind of answer, and 204 routes none', () => {
    for (const [name, r] of all) {
      expect(r.body !== undefined && r.rawBody !== undefined, name).toBe(false);
      expect(r.response !== undefined && r.rawResponse !== undefined, name).toBe(false);
      if (r.status === 204) expect(r.response ?? r.rawResponse, name).toBeUndefined();
      else expect(r.response ?? r.rawResponse, name).toBeDefined();
      if (r.method === 'GET') expect(r.body ?? r.rawBody, name).toBeUndefined();
    }
  });

  it('lists known codes, adding the credential refusals to every route that needs a user', () => {
    for (const [name, r] of all) {
      const codes = routeErrors(r);
      for (const code of codes) expect(errorCodes, name).toContain(code);
      expect(codes.includes('UNAUTHENTICATED'), name).toBe(r.auth === 'user' || r.errors.includes('UNAUTHENTICATED'));
      expect(codes, name).toContain('INTERNAL');
    }
    expect(routeErrors(loaded.health)).toEqual(['INTERNAL']);
  });

  it('imports no schema module and not zod at load, only types: a client loads the schemas of the routes it calls', () => {
    const source = fs.readFileSync(new URL('./routes.ts', import.meta.url), 'utf8');
    const valueImports = source.split('\n').filter((line) => /^import (?!type )/.test(line));
    expect(valueImports).toEqual([]);
  });

  it("loads a route's schemas once and gives the same ones to every caller", async () => {
    const first = await routeSchemas('listTasks');
    expect(first.response).toBeDefined();
    expect(await routeSchemas('listTasks')).toBe(first);
    expect(loaded.listTasks.response).toBe(first.response);
    expect(Object.keys(await routeSchemas('endBrowserSession'))).toEqual([]);
    expect(routes.listTasks).not.toHaveProperty('response');
  });
});
