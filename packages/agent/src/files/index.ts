export {
  createFileService,
  DEFAULT_MAX_LIST_ENTRIES,
  DEFAULT_MAX_READ_BYTES,
  DEFAULT_MAX_WRITE_BYTES,
  type FileService,
  type FileServiceOptions,
} from './file-service.js';
export {
  type FileEvent,
  type FileEventListener,
  type FileEventSocket,
  type FileHandlerLog,
  registerFileHandlers,
} from './register-file-handlers.js';
export {
  createSyncService,
  SYNC_SKIPPED_NAMES,
  SYNC_TEMP_PREFIX,
  type SyncService,
  type SyncServiceOptions,
  syncSkips,
} from './sync-service.js';
export { MAX_NAME_BYTES, MAX_PATH_CHARS, MAX_PATH_DEPTH, splitWorkspacePath } from './workspace-path.js';
