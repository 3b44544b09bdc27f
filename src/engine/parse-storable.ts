import type { z } from 'zod';
import { describeIssues, issuePath } from '../definition/issue-path.ts';
import { copyJson, describeJsonProblem, findNonJson } from '../json-value.ts';

/** Makes the typed error of a refused value: its message, the path of the field, the zod error. */
export type RefusalError = (message: string, path: string, cause?: unknown) => Error;

/**
 * A value a caller hands the engine (a saga's input, a signal's payload, a tool's arguments),
 * parsed by its schema and held to the JSON rule (src/json-value.ts): what the schema outputs is
 * stored and shipped to workers as JSON, so a value JSON would change (a Date) or cannot hold (a
 * BigInt, a cycle) is refused before anything is stored, rather than reaching handlers differently
 * on each backend. Returns a JSON copy: a caller that changes its object later changes nothing.
 *
 * @param label what the value is, for messages: `input of saga "trip"`
 * @param root the name of the value's root in paths: `input`, `payload`, `args`
 */
export function parseStorable(
  schema: z.ZodType,
  value: unknown,
  label: string,
  root: string,
  refuse: RefusalError,
): unknown {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    throw refuse(
      `${label} is invalid: ${describeIssues(parsed.error.issues, root)}`,
      first ? issuePath(first) : '',
      parsed.error,
    );
  }
  const unstorable = findNonJson(parsed.data);
  if (unstorable) throw refuse(`${label} is not storable: ${describeJsonProblem(root, unstorable)}`, unstorable.path);
  return copyJson(parsed.data ?? null);
}
