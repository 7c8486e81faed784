import {
  DEFAULT_MAX_JSON_BODY_BYTES,
  type LoadedRoute,
  type LoadedRoutes,
  type RouteInput,
  type RouteName,
  type RouteOutput,
  type RouteSpec,
  type Routes,
  type RouteTag,
  routeNames,
  routes,
} from '@rclaude/protocol';
import express, { type IRouter, type Request, type RequestHandler, type Response } from 'express';
import { z } from 'zod';
import { type AuthContext, requireAuth } from './context.js';
import { parseInput } from './validate.js';

/** What a handler gets besides its validated input. */
export interface RouteContext {
  req: Request;
  /** Write to it only in a route whose answer is not JSON (`rawResponse`): the adapter sends the others. */
  res: Response;
  /** The caller; throws UNAUTHENTICATED when nobody signed in (possible on public routes only). */
  auth(): AuthContext;
  /** Answer with this status instead of the declared one (readiness answers 503 with the same body). */
  status(code: number): void;
}

/** A route's handler: validated input in, the answer out (nothing for 204 and non-JSON answers). */
export type RouteHandler<R extends RouteSpec> = (input: RouteInput<R>, ctx: RouteContext) => Promise<RouteOutput<R>>;

/** One handler per route name; leaving one out is a type error. */
export type Handlers<N extends RouteName = RouteName> = { [K in N]: RouteHandler<Routes[K]> };

/** The names of the routes with a tag. */
export type TaggedRouteName<T extends RouteTag> = {
  [K in RouteName]: Routes[K]['tag'] extends T ? K : never;
}[RouteName];

/** The names of the routes with a tag, in table order. */
export function routesTagged<T extends RouteTag>(tag: T): TaggedRouteName<T>[] {
  return routeNames.filter((name): name is TaggedRouteName<T> => routes[name].tag === tag);
}

const noQuerySchema = z.object({}).strict();

/**
 * Registers the named routes of the protocol table on `router`, each with its full path, validating with the
 * schemas in `table` (the server loads them once: `loadRouteSchemas`). Per route: the
 * JSON body parser with the route's limit (raw bodies are left to the handler), validation of path
 * parameters, query and body with the table's schemas (BAD_REQUEST listing every issue), the handler, and
 * the answer with the declared status. Errors go to the app's error middleware.
 */
export function mountRoutes<N extends RouteName>(
  router: IRouter,
  names: readonly N[],
  handlers: Handlers<N>,
  table: LoadedRoutes,
): void {
  for (const name of names) {
    const route: LoadedRoute = table[name];
    // The table and the map are keyed alike; TypeScript cannot follow the correlation through the loop.
    const handler = handlers[name] as unknown as (
      input: { params: unknown; query: unknown; body: unknown },
      ctx: RouteContext,
    ) => Promise<unknown>;
    const body: RequestHandler[] = route.body
      ? [express.json({ limit: route.maxBodyBytes ?? DEFAULT_MAX_JSON_BODY_BYTES })]
      : [];
    const method = route.method.toLowerCase() as 'get' | 'post' | 'put' | 'delete';
    router[method](route.path, ...body, async (req: Request, res: Response) => {
      const input = {
        params: route.params ? parseInput(route.params, req.params, 'path') : {},
        query: parseInput(route.query ?? noQuerySchema, req.query, 'query'),
        body: route.body ? parseInput(route.body, route.bodyOptional ? (req.body ?? {}) : req.body, 'body') : undefined,
      };
      let status: number = route.status;
      const output = await handler(input, {
        req,
        res,
        auth: () => requireAuth(req),
        status: (code) => {
          status = code;
        },
      });
      if (route.rawResponse) return;
      if (route.status === 204) res.status(204).end();
      else res.status(status).json(output);
    });
  }
}
