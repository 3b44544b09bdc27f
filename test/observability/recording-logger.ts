import type { Logger } from '../../src/observability/logger.ts';

/** One call on a {@link RecordingLogger} or any of its children. */
export interface LogLine {
  level: 'debug' | 'info' | 'warn' | 'error';
  /** The bindings of the child it was logged on, merged with the fields of the call. */
  fields: Record<string, unknown>;
  msg: string | undefined;
}

/** A Logger that keeps every line (with its children's bindings) for assertions. */
export interface RecordingLogger extends Logger {
  lines: LogLine[];
  at(level: LogLine['level']): LogLine[];
}

export function recordingLogger(): RecordingLogger {
  const lines: LogLine[] = [];
  const make = (bindings: Record<string, unknown>): Logger => {
    const at = (level: LogLine['level']) => (fields: Record<string, unknown>, msg?: string) => {
      lines.push({ level, fields: { ...bindings, ...fields }, msg });
    };
    return {
      debug: at('debug'),
      info: at('info'),
      warn: at('warn'),
      error: at('error'),
      child: (more) => make({ ...bindings, ...more }),
    };
  };
  return Object.assign(make({}), { lines, at: (level: LogLine['level']) => lines.filter((l) => l.level === level) });
}
