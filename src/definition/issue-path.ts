import type { z } from 'zod';

/** Turns a zod issue path into the dotted form used in error messages: `steps.1.retry.attempts`. */
export function issuePath(issue: z.core.$ZodIssue): string {
  return issue.path.map(String).join('.');
}

/** One line per issue, each naming its field, so the first line of an error says what to fix. */
export function describeIssues(issues: readonly z.core.$ZodIssue[], root: string): string {
  return issues
    .map((issue) => {
      const path = issuePath(issue);
      return `${path === '' ? root : path}: ${issue.message}`;
    })
    .join('; ');
}
