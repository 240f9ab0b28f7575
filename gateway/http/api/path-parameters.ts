import { HttpProblem } from '../problem.ts';

/**
 * A row id in a path or body (a person, a region, an accreditation): digits, as bigint keys are sent
 * as strings. The access table lets any segment through; this answers 400 for anything else.
 */
export function rowIdParameter(value: unknown, name: string): string {
  if (typeof value !== 'string' || !/^\d{1,18}$/.test(value)) throw new HttpProblem(400, 'problem.badRequest', `${name} must be a number in a string`);
  return value;
}
