import type { Logger } from 'pino';
import { ConfigError } from './cli.ts';

/**
 * Runs a program's main: one clear line for a bad config, a clean close on
 * SIGINT/SIGTERM (exit 0), and a forced exit if closing hangs.
 */
export async function runMain(name: string, main: () => Promise<{ close(): Promise<void>; log: Logger } | null>): Promise<void> {
  let app: { close(): Promise<void>; log: Logger } | null;
  try {
    app = await main();
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`${name}: ${e.message} (see --help)\n`);
      process.exit(2);
    }
    process.stderr.write(`${name}: ${(e as Error).message}\n`);
    process.exit(1);
  }
  if (!app) return;
  const running = app;
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    running.log.info({ signal }, 'shutting down');
    setTimeout(() => {
      process.stderr.write(`${name}: shutdown took too long, exiting\n`);
      process.exit(1);
    }, 8000).unref();
    running.close().then(
      () => process.exit(0),
      (err) => {
        running.log.error({ err }, 'error during shutdown');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}
