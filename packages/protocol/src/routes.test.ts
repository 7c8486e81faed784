import { describe, expect, it } from 'vitest';
import { errorCodes } from './errors.js';
import { type RouteSpec, routeErrors, routeNames, routes } from './routes.js';

const all = routeNames.map((name) => [name, routes[name] as RouteSpec] as const);

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
    expect(routeErrors(routes.health)).toEqual(['INTERNAL']);
  });
});
