// The one error the UI handles: what both transports turn a refusal into. The shape is the
// server's `ApiError` ({code, message, field}); `code` is what the UI branches on.
import type { ApiError } from './types/ApiError';

export class HoneError extends Error implements ApiError {
  readonly code: string;
  readonly field: string | null;

  constructor(code: string, message: string, field: string | null = null) {
    super(message);
    this.name = 'HoneError';
    this.code = code;
    this.field = field;
  }

  /** The sentence shown to people: the message, and the input at fault when known. */
  get human(): string {
    return this.field ? `${this.message} (${this.field})` : this.message;
  }
}

export function isApiErrorShape(value: unknown): value is { code: string; message: string; field?: string | null } {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.code === 'string' && typeof v.message === 'string';
}

/** Whatever a transport caught (an error object, a string, an Error) as a HoneError. */
export function toHoneError(value: unknown): HoneError {
  if (value instanceof HoneError) return value;
  if (isApiErrorShape(value)) return new HoneError(value.code, value.message, value.field ?? null);
  if (value instanceof Error) return new HoneError('internal', value.message);
  if (typeof value === 'string') return new HoneError('internal', value);
  return new HoneError('internal', 'an unknown error happened');
}

/** The human sentence of any caught value (for `catch (e)` blocks in components). */
export function describeError(value: unknown): string {
  return toHoneError(value).human;
}
