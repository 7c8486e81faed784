/**
 * @rclaude/client: what every client of the rclaude server shares (CLI, web app, bench, tests).
 * Browser-safe: no Node built-ins.
 */
export {
  ApiClient,
  type ApiClientOptions,
  ApiNetworkError,
  type CallInit,
  type CallInput,
  type CallResult,
  errorFromResponse,
  type FetchLike,
  isNetworkError,
  routePath,
  UnexpectedResponseError,
} from './api-client.js';
export * from './safe-text.js';
export * from './socket-client.js';
export * from './socket-terminal-transport.js';
export * from './task-event-text.js';
export * from './terminal-connection.js';
export * from './terminal-transport.js';
