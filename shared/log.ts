import { pino, type Logger } from 'pino';

/** Structured logs to stderr, quiet by default; stdout stays free for what a person reads. */
export function createLogger(name: string, level: string): Logger {
  return pino({ name, level, base: { name } }, pino.destination(2));
}
