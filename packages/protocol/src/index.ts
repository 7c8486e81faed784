export * from './auth.js';
export * from './errors.js';
export * from './events.js';
export * from './files.js';
export * from './sessions.js';
export * from './stream.js';
export * from './task-events.js';
export * from './tasks.js';
