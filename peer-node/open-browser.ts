/**
 * Opens the player page in the viewer's browser (`--open`). `$BROWSER` wins
 * when set, as for Python's webbrowser and git: a command, `%s` standing for
 * the URL (appended when absent), several tried in turn when separated by
 * `:`. Otherwise the desktop's opener: xdg-open, open (macOS) or the URL
 * handler (Windows). A browser that cannot be opened is a warning: the peer runs on,
 * and its URL is printed anyway.
 */
import { spawn } from 'node:child_process';
import type { Logger } from 'pino';

export interface BrowserCommand {
  command: string;
  args: string[];
}

/** The commands to try in order for `url`: pure, so a test reads the choice without opening anything. */
export function browserCommands(url: string, env: Readonly<Record<string, string | undefined>>, platform: NodeJS.Platform): BrowserCommand[] {
  const fromEnv = (env.BROWSER ?? '')
    .split(':')
    .map((entry) => entry.trim().split(/\s+/).filter(Boolean))
    .filter((words) => words.length > 0)
    .map(([command = '', ...rest]) => ({
      command,
      args: rest.some((w) => w.includes('%s')) ? rest.map((w) => w.replaceAll('%s', url)) : [...rest, url],
    }));
  if (fromEnv.length > 0) return fromEnv;
  if (platform === 'darwin') return [{ command: 'open', args: [url] }];
  // Not `cmd /c start`: cmd would read the URL's `&` as a command separator.
  if (platform === 'win32') return [{ command: 'rundll32', args: ['url.dll,FileProtocolHandler', url] }];
  return [{ command: 'xdg-open', args: [url] }];
}

function tryOne(c: BrowserCommand): Promise<string | null> {
  return new Promise((resolve) => {
    const child = spawn(c.command, c.args, { stdio: 'ignore', detached: true });
    child.on('error', (err) => resolve(`${c.command}: ${err.message}`));
    child.on('exit', (code, signal) => resolve(code === 0 ? null : `${c.command} exited with ${code ?? signal}`));
    // Openers return once the browser has the URL; a browser run directly may stay: this process does not wait on it to exit.
    child.unref();
  });
}

/** Resolves once a command took the URL, or after warning that none did. */
export async function openBrowser(url: string, log: Logger, env: Readonly<Record<string, string | undefined>> = process.env): Promise<void> {
  const failures: string[] = [];
  for (const c of browserCommands(url, env, process.platform)) {
    const failure = await tryOne(c);
    if (failure === null) return;
    failures.push(failure);
  }
  log.warn({ url, failures }, 'could not open a browser; open the player URL yourself');
}
