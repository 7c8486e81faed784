/** The slice of a pino logger the storage layer writes to (connection errors it cannot throw anywhere). */
export interface StoreLogger {
  warn(obj: Record<string, unknown>, msg: string): void;
  error(obj: Record<string, unknown>, msg: string): void;
}

/** For callers that pass no logger (tests, scripts). */
export const silentLogger: StoreLogger = {
  warn: () => undefined,
  error: () => undefined,
};
