/**
 * `@rclaude/client/rest`: the REST client and the text escaping, without the terminal connection and
 * Socket.io. A command that only calls routes (the CLI's `ls`, `stop`, `approve`...) imports this entry so it
 * does not load socket.io-client at start-up. Browser-safe, like the rest of the package.
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
