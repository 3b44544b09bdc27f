import { isTerminalError } from '../errors.ts';
import type { ErrorInfo } from '../machines/events.ts';

/**
 * An error as plain data, the only form that crosses a queue. Anything thrown that is not an
 * Error is described as such rather than dropped.
 */
export function toErrorInfo(error: unknown): ErrorInfo {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return {
      name: error.name,
      message: error.message,
      ...(typeof code === 'string' ? { code } : {}),
      ...(isTerminalError(error) ? { terminal: true } : {}),
    };
  }
  return { name: 'NonError', message: `a handler threw a non-Error value: ${safeString(error)}` };
}

function safeString(value: unknown): string {
  try {
    return typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
  } catch {
    return String(value);
  }
}
