import { AppError, type ErrorCode } from '@rclaude/protocol';
import { isNetworkError } from './api-client.js';

/** What the interface says about a failure: the server's message and what the person can do about it. */
export interface ErrorDescription {
  message: string;
  /** A next step, or null when the message says it all. */
  advice: string | null;
}

const adviceByCode: Partial<Record<ErrorCode, string>> = {
  UNAUTHENTICATED: 'Sign in again.',
  FORBIDDEN: 'Ask an administrator for access.',
  NOT_FOUND: 'It may have been deleted. Go back to the dashboard.',
  RATE_LIMITED: 'Wait a moment before trying again.',
  BUDGET_EXCEEDED: 'This month’s budget is spent; ask an administrator to raise it.',
  TOO_MANY_TASKS: 'Stop a task you no longer need, then try again.',
  SANDBOX_START_FAILED: 'Check the provider settings of the server, then start a new task.',
  PROVIDER_UNAVAILABLE: 'The sandbox provider is not reachable; try again in a minute.',
  AGENT_UNAVAILABLE: 'The sandbox is not answering; it may still be starting. Try again shortly.',
  TASK_NOT_RUNNING: 'The task has ended; start a new one.',
  PAYLOAD_TOO_LARGE: 'Try a smaller file.',
  TIMEOUT: 'Try again.',
  INTERNAL: 'Try again; if it keeps failing, check the server log.',
};

/** Maps any thrown value to words for a person. */
export function describeError(error: unknown): ErrorDescription {
  if (isNetworkError(error)) {
    return { message: 'Cannot reach the rclaude server.', advice: 'Check that it is running, then try again.' };
  }
  if (error instanceof AppError) {
    return { message: sentence(error.message), advice: adviceByCode[error.code] ?? null };
  }
  if (error instanceof Error) return { message: sentence(error.message), advice: 'Try again.' };
  return { message: 'Something went wrong.', advice: 'Try again.' };
}

function sentence(text: string): string {
  const trimmed = text.trim();
  if (!trimmed) return 'Something went wrong.';
  const capital = trimmed[0]?.toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(capital) ? capital : `${capital}.`;
}
