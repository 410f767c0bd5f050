import { z } from 'zod';

/** Path and query parameters of the observability endpoints (CONTRACT §3), validated once here. */
export const TraceId = z.string().regex(/^[0-9a-f]{32}$/, 'trace_id must be 32 lowercase hex characters');
export const SpanId = z.string().regex(/^[0-9a-f]{16}$/, 'span_id must be 16 lowercase hex characters');
export const Service = z.string().min(1, 'service must not be empty');

export const Limit = z.coerce
  .number({ error: 'Input should be a valid integer' })
  .int('Input should be a valid integer')
  .min(1, 'Input should be greater than or equal to 1')
  .max(10_000, 'Input should be less than or equal to 10000')
  .default(500);

/** FastAPI's bool parsing: true/false, 1/0, yes/no, on/off, any case. */
export const Bool = z
  .string()
  .transform((v, ctx) => {
    const value = v.toLowerCase();
    if (['true', '1', 'yes', 'on'].includes(value)) return true;
    if (['false', '0', 'no', 'off'].includes(value)) return false;
    ctx.addIssue({ code: 'custom', message: 'Input should be a valid boolean, unable to interpret input' });
    return z.NEVER;
  })
  .default(false);

export const ServicePath = z.object({ service: Service });
export const LimitQuery = z.object({ limit: Limit });
