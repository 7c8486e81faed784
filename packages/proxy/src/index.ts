export { type ComposedServer, composeServer, type ServerDeps } from './compose-server.js';
export { type Config, ConfigError, type Env, loadConfig } from './config.js';
export { LOCAL_STATE_FILE, type LocalState, readLocalState } from './local-state.js';
export { type RunningServer, startServer } from './main.js';
