import { MAX_ID_LENGTH, MAX_URL_LENGTH } from './limits.ts';

/**
 * Field readers for decoded JSON. Each throws a FieldError naming the field;
 * the codec turns that into a typed ProtocolError, so no cast ever hides bad input.
 */
export class FieldError extends Error {}

export type Obj = Record<string, unknown>;

export function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function obj(v: unknown, name: string): Obj {
  if (!isObj(v)) throw new FieldError(`${name} must be an object`);
  return v;
}

export function int(o: Obj, key: string, min: number, max: number): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
    throw new FieldError(`${key} must be an integer in [${min}, ${max}]`);
  }
  return v;
}

export function bool(o: Obj, key: string): boolean {
  const v = o[key];
  if (typeof v !== 'boolean') throw new FieldError(`${key} must be a boolean`);
  return v;
}

export function str(o: Obj, key: string, pattern: RegExp, maxLength: number): string {
  const v = o[key];
  if (typeof v !== 'string' || v.length > maxLength || !pattern.test(v)) {
    throw new FieldError(`${key} must match ${pattern} (at most ${maxLength} chars)`);
  }
  return v;
}

export function arr(o: Obj, key: string, maxLength: number): unknown[] {
  const v = o[key];
  if (!Array.isArray(v) || v.length > maxLength) {
    throw new FieldError(`${key} must be an array of at most ${maxLength} items`);
  }
  return v;
}

export const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
export const WS_URL = /^wss?:\/\/[^\s]+$/;

export function id(o: Obj, key: string): string {
  return str(o, key, ID_PATTERN, MAX_ID_LENGTH);
}

export function wsUrl(o: Obj, key: string): string {
  return str(o, key, WS_URL, MAX_URL_LENGTH);
}
