import type { z } from 'zod';

/** One entry of FastAPI's 422 `detail` array; the Junjo UI joins the `msg` fields. */
export interface ValidationDetail {
  type: string;
  loc: (string | number)[];
  msg: string;
  input?: unknown;
  ctx?: Record<string, unknown>;
}

/** Thrown by the stack for bad requests; the error mapper answers 422 `{detail: [...]}`. */
export class ValidationFailure extends Error {
  readonly isValidationFailure = true;
  constructor(readonly detail: ValidationDetail[]) {
    super('Request validation failed');
    this.name = 'ValidationFailure';
  }
}

export function isValidationFailure(error: unknown): error is ValidationFailure {
  return (
    typeof error === 'object' && error !== null && (error as ValidationFailure).isValidationFailure === true
  );
}

/** Inputs under these keys are never echoed back in a 422. */
const SECRET_FIELD = /pass(word)?|secret|token|key/i;

/** Zod issues → FastAPI-shaped details under `location` ("body", "path", "query"). */
export function toDetails(location: string, issues: z.core.$ZodIssue[]): ValidationDetail[] {
  return issues.map((issue) => {
    const loc = [location, ...issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p))];
    const { type, msg } = describe(issue);
    const detail: ValidationDetail = { type, loc, msg };
    const field = issue.path.at(-1);
    const echo = issue.path.length > 0 && !(typeof field === 'string' && SECRET_FIELD.test(field));
    if (type === 'missing') detail.input = null;
    else if (echo && 'input' in issue) detail.input = issue.input;
    return detail;
  });
}

function describe(issue: z.core.$ZodIssue): { type: string; msg: string } {
  switch (issue.code) {
    case 'invalid_type':
      if (issue.input === undefined) return { type: 'missing', msg: 'Field required' };
      if (issue.expected === 'object')
        return {
          type: 'model_attributes_type',
          msg: 'Input should be a valid dictionary or object to extract fields from',
        };
      return { type: `${issue.expected}_type`, msg: issue.message };
    case 'too_small':
      return {
        type: issue.origin === 'string' ? 'string_too_short' : 'greater_than_equal',
        msg: issue.message,
      };
    case 'too_big':
      return { type: issue.origin === 'string' ? 'string_too_long' : 'less_than_equal', msg: issue.message };
    case 'invalid_format':
      return {
        type: issue.format === 'regex' ? 'string_pattern_mismatch' : 'value_error',
        msg: issue.message,
      };
    case 'invalid_value':
      return { type: 'literal_error', msg: issue.message };
    case 'unrecognized_keys':
      return { type: 'extra_forbidden', msg: issue.message };
    default:
      return { type: 'value_error', msg: issue.message };
  }
}
