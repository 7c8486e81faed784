/** Keys whose values are credentials or secrets wherever they appear in a log object. */
const SENSITIVE_KEYS = [
  'password',
  'token',
  'csrfToken',
  'value',
  'secret',
  'secrets',
  'env',
  'authorization',
  'cookie',
];

/**
 * pino `redact.paths` for the server's logger: credential headers (as pino's request serializer and
 * most request loggers lay them out), the raw body body-parser attaches to a JSON error, and the
 * sensitive keys above at the top level and two levels down (`{body:{password}}`, `{req:{body:{value}}}`).
 */
export const redactPaths: readonly string[] = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-csrf-token"]',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  'headers["x-csrf-token"]',
  'err.body',
  'error.body',
  ...SENSITIVE_KEYS.flatMap((key) => [key, `*.${key}`, `*.*.${key}`]),
];
