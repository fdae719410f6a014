import type { Logger } from 'pino';
import { ConfigError } from './cli.ts';

/**
 * Runs a program's main: one clear line for a bad config, a clean close on
 * SIGINT/SIGTERM (exit 0), and a forced exit if closing hangs. The signal
 * handlers are in place before main starts: a signal during start-up lets it
 * finish (so nothing it started is left half-open), then closes.
 */
export async function runMain(name: string, main: () => Promise<{ close(): Promise<void>; log: Logger } | null>): Promise<void> {
  let app: { close(): Promise<void>; log: Logger } | null = null;
  let starting = true;
  let signalled: string | null = null;
  const stop = (signal: string) => {
    if (signalled !== null) return;
    signalled = signal;
    if (starting) return; // closed as soon as main returns
    closeAndExit(signal);
  };
  const closeAndExit = (signal: string) => {
    if (!app) process.exit(0);
    const running = app;
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
  const onSigint = () => stop('SIGINT');
  const onSigterm = () => stop('SIGTERM');
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigterm);
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
  starting = false;
  if (!app) {
    // Nothing to run (--help): the default signal behaviour is fine again.
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigterm);
    return;
  }
  if (signalled !== null) closeAndExit(signalled);
}
