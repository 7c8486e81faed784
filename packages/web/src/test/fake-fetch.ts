import type { FetchLike } from '../api/api-client.js';

export interface RecordedRequest {
  method: string;
  url: string;
  headers: Headers;
  body: unknown;
}

export type Route = (request: RecordedRequest) => Response | Promise<Response> | undefined;

/** JSON response helper. */
export function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
}

/**
 * A fetch that answers from `routes` (first one returning a Response wins), records every request, and
 * answers 404 with the error body for anything unrouted so a test notices.
 */
export function createFakeFetch(routes: Route[]): { fetch: FetchLike; requests: RecordedRequest[] } {
  const requests: RecordedRequest[] = [];
  const fetch: FetchLike = async (input, init) => {
    const headers = new Headers(init?.headers);
    let body: unknown = init?.body;
    if (typeof body === 'string' && headers.get('content-type') === 'application/json') body = JSON.parse(body);
    const request: RecordedRequest = { method: init?.method ?? 'GET', url: input, headers, body };
    requests.push(request);
    for (const route of routes) {
      const response = await route(request);
      if (response) return response;
    }
    return json({ error: { code: 'NOT_FOUND', message: `no fake route for ${request.method} ${input}` } }, 404);
  };
  return { fetch, requests };
}

/** Matches a method and a path (query string ignored). */
export function route(
  method: string,
  path: string,
  answer: (request: RecordedRequest) => Response | Promise<Response>,
): Route {
  return (request) => {
    if (request.method !== method) return undefined;
    const url = new URL(request.url, 'http://localhost');
    return url.pathname === path ? answer(request) : undefined;
  };
}
