/**
 * The subcommands of the `p2p-live` command: one row each. A row names the
 * program's entry module (a file that runs its program on import, reading
 * process.argv like `npm run <script>` does), which bin/build.ts bundles as
 * `<name>.mjs` and bin/p2p-live.ts loads. A row whose entry is missing when
 * the package is built stays listed, and says it is not in that build.
 */
export interface Command {
  readonly name: string;
  /** Path from the repository root. */
  readonly entry: string;
  readonly summary: string;
}

export const COMMANDS: readonly Command[] = [
  { name: 'origin', entry: 'origin/main.ts', summary: 'the origin: ingest (ffmpeg), live window, HLS, built-in tracker, seeding, metrics' },
  { name: 'peer', entry: 'peer-node/main.ts', summary: 'one peer node: joins a swarm and serves the player page (--open opens it in a browser)' },
  { name: 'tracker', entry: 'origin/tracker-main.ts', summary: 'a tracker replica sharing its swarm with others over Redis' },
  { name: 'demo', entry: 'scripts/start.ts', summary: 'an origin on a test pattern and a few peer nodes in one process' },
];
