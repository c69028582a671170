import * as z from 'zod';
import { secretProblem } from '../cases/thread-token.js';

/**
 * Value types several parts of the configuration schema (schema.ts) share. Every schema module
 * imports this one first: the configuration is parsed once per process (and at a reload), so
 * zod's generated fast path for objects (code built with new Function at the first parse) costs
 * more than it saves here — and zod decides that when an object schema is built, not when it parses.
 */
z.config({ jitless: true });

/** A plain address, trimmed and lower-cased: support@example.com. */
export const email = z
  .string()
  .trim()
  .toLowerCase()
  .regex(/^[^\s@<>()[\]\\,;:"]+@[^\s@<>()[\]\\,;:"]+$/, 'must be a plain email address like support@example.com');

/** A signing secret: at least MIN_SECRET_BYTES bytes. */
export const secretString = z.string().superRefine((v, ctx) => {
  const problem = secretProblem(v);
  if (problem !== null) ctx.addIssue({ code: 'custom', message: `the secret ${problem}` });
});

/** "2026-09-01" (midnight UTC) or a full ISO-8601 time. */
export const isoTime = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}(?:[T ][0-9:.]+(?:Z|[+-]\d{2}:?\d{2})?)?$/, { message: 'a date like 2026-09-01 or an ISO-8601 time', abort: true })
  .refine((v) => !Number.isNaN(Date.parse(v)), 'not a valid date');
