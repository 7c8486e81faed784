/**
 * @rclaude/client: what every client of the rclaude server shares (CLI, web app, bench, tests).
 * Browser-safe: no Node built-ins.
 */
export const clientPackage = '@rclaude/client';
