/**
 * @rclaude/client: what every client of the rclaude server shares (CLI, web app, bench, tests).
 * Browser-safe: no Node built-ins.
 */
export * from './rest.js';
export * from './socket-client.js';
export * from './socket-terminal-transport.js';
export * from './task-event-text.js';
export * from './terminal-connection.js';
export * from './terminal-transport.js';
