export * from './e2b-emulator.js';
export * from './ecs-emulator.js';
export * from './fake-anthropic.js';
export * from './fake-github.js';
export * from './rclaude-server.js';
export * from './s3-emulator.js';
export * from './tmux.js';
export * from './until.js';
