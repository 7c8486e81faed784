import {
  createTaskRequestSchema,
  errorBodySchema,
  errorStatus,
  type LoadedRoute,
  type LoadedRoutes,
  type RouteName,
  routeErrors,
  routeNames,
} from '@rclaude/protocol';
import { z } from 'zod';

type JsonSchema = Record<string, unknown>;

function schema(s: z.ZodType, io: 'input' | 'output'): JsonSchema {
  return z.toJSONSchema(s, { io, unrepresentable: 'any', target: 'openapi-3.0' }) as JsonSchema;
}

/**
 * A request body's JSON schema, with the cross-field rules zod checks in refinements (which JSON Schema
 * generation cannot see) written out where OpenAPI 3.0 can say them.
 */
function bodySchema(s: z.ZodType): JsonSchema {
  const json = schema(s, 'input');
  // createTaskRequestSchema: "give a command or a prompt, not both".
  if (s === createTaskRequestSchema) return { ...json, not: { required: ['command', 'prompt'] } };
  return json;
}

/** `/api/tasks/:id` -> `/api/tasks/{id}`. */
export function openApiPath(path: string): string {
  return path.replace(/:(\w+)/g, '{$1}');
}

function parameters(op: LoadedRoute): JsonSchema[] {
  const inPath = [...op.path.matchAll(/:(\w+)/g)].map((m) => m[1] as string);
  const path = inPath.map((name) => {
    const s = op.params?.shape[name] as z.ZodType | undefined;
    if (!s) throw new Error(`openapi: ${op.method} ${op.path} has no schema for :${name}`);
    return { name, in: 'path', required: true, schema: schema(s, 'input') };
  });
  const query: JsonSchema[] = [];
  if (op.query) {
    const json = schema(op.query, 'input') as { properties?: Record<string, JsonSchema>; required?: string[] };
    for (const [name, prop] of Object.entries(json.properties ?? {})) {
      const { description, ...rest } = prop;
      query.push({
        name,
        in: 'query',
        required: json.required?.includes(name) ?? false,
        ...(typeof description === 'string' ? { description } : {}),
        schema: rest,
      });
    }
  }
  return [...path, ...query];
}

/** Error answers by status, each naming the codes the route may answer with it. */
function errorResponses(op: LoadedRoute): Record<string, unknown> {
  const byStatus = new Map<number, string[]>();
  for (const code of routeErrors(op)) {
    const status = errorStatus[code];
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  const out: Record<string, unknown> = {};
  for (const [status, codes] of [...byStatus].sort(([a], [b]) => a - b)) {
    out[String(status)] = {
      description: `\`error.code\`: ${codes.join(', ')}`,
      content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
    };
  }
  return out;
}

/**
 * Routes that answer no user credential but a token of their own (the route table marks them public, which
 * keeps them ahead of the user authentication middleware): `/metrics` takes RCLAUDE_METRICS_TOKEN.
 */
const ownCredential: Partial<Record<RouteName, Record<string, string[]>[]>> = { metrics: [{ metricsToken: [] }] };

/** The OpenAPI 3 document, generated from the protocol's route table with its schemas loaded (`loadRouteSchemas`). */
export function buildOpenApi(table: LoadedRoutes): unknown {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const name of routeNames) {
    const op: LoadedRoute = table[name];
    const params = parameters(op);
    const status = String(op.status);
    const responses: Record<string, unknown> = {
      [status]: op.response
        ? { description: 'OK', content: { 'application/json': { schema: schema(op.response, 'output') } } }
        : op.rawResponse
          ? { description: op.rawResponse.description, content: { [op.rawResponse.type]: {} } }
          : { description: 'Done' },
      ...errorResponses(op),
      default: {
        description: 'Error: `error.code` is one of the stable codes (see docs/api.md)',
        content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
      },
    };
    const requestBody = op.body
      ? { required: op.bodyOptional !== true, content: { 'application/json': { schema: bodySchema(op.body) } } }
      : op.rawBody === 'octet'
        ? { required: true, content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } }
        : op.rawBody === 'multipart'
          ? {
              required: true,
              content: {
                'multipart/form-data': {
                  schema: {
                    type: 'object',
                    properties: { file: { type: 'array', items: { type: 'string', format: 'binary' } } },
                  },
                },
              },
            }
          : null;
    const key = openApiPath(op.path);
    const path = paths[key] ?? {};
    paths[key] = path;
    path[op.method.toLowerCase()] = {
      summary: op.summary,
      operationId: name satisfies RouteName,
      tags: [op.tag],
      ...(params.length ? { parameters: params } : {}),
      ...(requestBody ? { requestBody } : {}),
      ...(ownCredential[name] ? { security: ownCredential[name] } : op.auth === 'public' ? { security: [] } : {}),
      responses,
    };
  }
  return {
    openapi: '3.0.3',
    info: {
      title: 'rclaude API',
      version: '0.1.0',
      description:
        'Tasks, sessions and sandbox files. Live terminals use Socket.io at /socket.io (namespace /client); see docs/api.md.',
    },
    servers: [{ url: '/' }],
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer' },
        cookie: { type: 'apiKey', in: 'cookie', name: 'rclaude_session' },
        metricsToken: { type: 'http', scheme: 'bearer', description: 'RCLAUDE_METRICS_TOKEN, for GET /metrics only' },
      },
      schemas: { Error: schema(errorBodySchema, 'output') },
    },
    security: [{ bearer: [] }, { cookie: [] }],
    paths,
  };
}
