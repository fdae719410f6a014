import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { parseOriginConfig } from '../../origin/config.ts';
import { createOriginMetrics } from '../../origin/metrics.ts';
import { parsePeerConfig } from '../../peer-node/config.ts';

/**
 * docker-compose.yml and monitoring/ checked offline (no Docker here): the
 * services, their images, healthchecks and ports; that origin and peers run
 * npm scripts that exist, with flags their programs accept; that Prometheus
 * scrapes them by service name and port; that Grafana's datasource and
 * dashboard folder line up with the mounts; and that the dashboard's PromQL
 * parses and names only metrics the origin exports.
 */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const run = promisify(execFile);
const PROMTOOL = process.env.PROMTOOL_PATH ?? '/usr/bin/promtool';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
function obj(v: unknown, what: string): Obj {
  assert.ok(isObj(v), `${what} is not a mapping`);
  return v;
}
function arr(v: unknown, what: string): unknown[] {
  assert.ok(Array.isArray(v), `${what} is not a list`);
  return v;
}
// Compose files use YAML 1.1 merge keys (`<<: *node`), which YAML 1.2 leaves off by default.
const readYaml = (file: string): unknown => parse(readFileSync(join(ROOT, file), 'utf8'), { merge: true });

const compose = obj(readYaml('docker-compose.yml'), 'docker-compose.yml');
const services = obj(compose.services, 'services');
const service = (name: string) => obj(services[name], `service ${name}`);
const pkg = obj(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')), 'package.json');
const scripts = obj(pkg.scripts, 'package.json scripts');

/** Compose's own `$$` escape, and a container address where the shell would substitute one. */
function shellWords(command: string): string[] {
  return command.replaceAll('$$(hostname -i)', '172.18.0.5').trim().split(/\s+/);
}

/** The `npm run <script> -- <args>` that a service's command ends with. */
function npmRun(name: string): { script: string; args: string[] } {
  const command = service(name).command;
  const text = Array.isArray(command) ? String(command.at(-1)) : String(command);
  const m = /(?:^|&&|;)\s*(?:exec\s+)?npm run ([\w:-]+) -- ([^&;|]+)$/.exec(text);
  assert.ok(m, `${name}: command does not end in "npm run <script> -- <flags>": ${text}`);
  return { script: m[1] as string, args: shellWords(m[2] as string) };
}

function flagValue(args: readonly string[], flag: string): string {
  const i = args.indexOf(flag);
  assert.ok(i >= 0 && args[i + 1] !== undefined, `${flag} not given in ${args.join(' ')}`);
  return args[i + 1] as string;
}

/** Mounts of a service as { source, target }, from the short `src:dst[:ro]` syntax. */
function mounts(name: string): { source: string; target: string }[] {
  return arr(service(name).volumes ?? [], `${name} volumes`).map((v) => {
    const [source = '', target = ''] = String(v).split(':');
    return { source, target };
  });
}

function hostPortsOf(name: string): { host: string | null; container: string }[] {
  return arr(service(name).ports ?? [], `${name} ports`).map((p) => {
    const parts = String(p).split(':');
    return parts.length === 1 ? { host: null, container: parts[0] as string } : { host: parts.at(-2) as string, container: parts.at(-1) as string };
  });
}

/** Metric names in a PromQL expression: identifiers that are not functions, keywords, labels, durations or Grafana variables. */
function promqlMetricNames(expr: string): string[] {
  const stripped = expr
    .replace(/\$\{?\w+\}?/g, ' ')
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, ' ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const keywords = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset', 'inf', 'nan']);
  const names = new Set<string>();
  for (const m of stripped.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const after = stripped.slice((m.index ?? 0) + m[0].length).trimStart();
    if (after.startsWith('(') || keywords.has(m[0].toLowerCase())) continue;
    if (/^\d/.test(stripped.slice((m.index ?? 1) - 1, m.index ?? 0))) continue;
    names.add(m[0]);
  }
  return [...names].sort();
}

describe('docker-compose.yml', () => {
  test('has origin, peer, prometheus and grafana, each with a healthcheck', () => {
    for (const name of ['origin', 'peer', 'prometheus', 'grafana']) {
      const hc = obj(service(name).healthcheck, `${name} healthcheck`);
      const cmd = arr(hc.test, `${name} healthcheck test`);
      assert.ok(cmd[0] === 'CMD' || cmd[0] === 'CMD-SHELL', `${name}: healthcheck test must start with CMD or CMD-SHELL`);
      assert.ok(cmd.length >= 2, `${name}: empty healthcheck`);
      assert.match(String(hc.interval), /^\d+m?s$/, `${name}: healthcheck interval`);
    }
  });

  test('uses official images: node:20-bookworm with Debian ffmpeg for the origin, prom/prometheus, grafana/grafana', () => {
    assert.equal(service('origin').image, 'node:20-bookworm');
    assert.equal(service('peer').image, 'node:20-bookworm');
    assert.match(String(service('prometheus').image), /^prom\/prometheus(:v?[\w.-]+)?$/);
    assert.match(String(service('grafana').image), /^grafana\/grafana(:[\w.-]+)?$/);
    const origin = arr(service('origin').command, 'origin command').join(' ');
    assert.match(origin, /apt-get install [^&]*\bffmpeg\b/);
  });

  test('origin and peer run from the mounted checkout once dependencies are installed', () => {
    for (const name of ['origin', 'peer']) {
      assert.equal(service(name).working_dir, '/app');
      assert.ok(mounts(name).some((m) => m.source === '.' && m.target === '/app'), `${name}: the repo is not mounted at /app`);
      const dependsOn = obj(service(name).depends_on, `${name} depends_on`);
      const install = obj(dependsOn.install, `${name} depends on install`);
      assert.equal(install.condition, 'service_completed_successfully');
    }
    const install = arr(service('install').command, 'install command');
    assert.deepEqual(install.slice(0, 2), ['npm', 'ci']);
    assert.equal(obj(obj(service('peer').depends_on, 'peer depends_on').origin, 'peer depends on origin').condition, 'service_healthy');
  });

  for (const [name, program] of [
    ['origin', 'origin'],
    ['peer', 'peer'],
  ] as const) {
    test(`${name} runs \`npm run ${program} -- ...\` with flags the program accepts`, async () => {
      const { script, args } = npmRun(name);
      assert.equal(script, program, 'the script README.md gives');
      const line = scripts[script];
      assert.equal(typeof line, 'string', `package.json has no script ${script}`);
      const m = /^(?:tsx (\S+\.ts)|node (\S+\.mjs))$/.exec(String(line));
      assert.ok(m, `script ${script} is neither "tsx <file>.ts" nor "node <file>.mjs": ${String(line)}`);
      const runArgs = m[1] ? ['--import', 'tsx', m[1], '--help'] : [m[2] as string, '--help'];
      const { stdout } = await run(process.execPath, runArgs, { cwd: ROOT, timeout: 60_000 });
      const listed = new Set([...stdout.matchAll(/^\s+(--[a-z][a-z-]*)/gm)].map((x) => x[1]));
      assert.ok(listed.size > 5, `--help listed ${listed.size} flags`);
      const flags = args.filter((a) => a.startsWith('--'));
      // At least --port (and --tracker for a peer): with none, the check below would pass on nothing.
      assert.ok(flags.includes('--port'), `${name}: no --port in ${args.join(' ')}`);
      for (const flag of flags) assert.ok(listed.has(flag), `${flag} is not in \`${String(line)} --help\``);
      // And the values are ones the program's own parser takes.
      const parsed = name === 'origin' ? parseOriginConfig(args) : parsePeerConfig(args);
      assert.ok(parsed, 'parsed as --help');
      assert.equal(parsed.host, '0.0.0.0', `${name} must listen on all addresses in a container`);
    });
  }

  test('the peer service scales: no fixed host port', () => {
    const ports = hostPortsOf('peer');
    // Published, or a host could not reach a replica at all (README: `docker compose port --index 1 peer 9000`).
    assert.ok(ports.length > 0, 'the peer publishes no port');
    for (const p of ports) {
      assert.ok(p.host === null || /^\d+-\d+$/.test(p.host), `peer publishes fixed host port ${p.host}: a second replica could not start`);
    }
  });

  test('published ports, healthchecks and tracker URL match the ports the programs listen on', () => {
    const originPort = flagValue(npmRun('origin').args, '--port');
    const peerArgs = npmRun('peer').args;
    const peerPort = flagValue(peerArgs, '--port');
    assert.deepEqual(hostPortsOf('origin'), [{ host: originPort, container: originPort }]);
    assert.deepEqual(hostPortsOf('peer').map((p) => p.container), [peerPort]);
    const healthUrl = (name: string) => String(arr(obj(service(name).healthcheck, 'healthcheck').test, 'test').join(' '));
    assert.match(healthUrl('origin'), new RegExp(`http://127\\.0\\.0\\.1:${originPort}/healthz`));
    assert.match(healthUrl('peer'), new RegExp(`http://127\\.0\\.0\\.1:${peerPort}/healthz`));
    const tracker = new URL(flagValue(peerArgs, '--tracker'));
    assert.equal(tracker.hostname, 'origin');
    assert.ok(tracker.hostname in services);
    assert.equal(tracker.port, originPort);
    assert.equal(tracker.pathname, '/tracker');
  });
});

describe('monitoring/prometheus.yml', () => {
  const prom = obj(readYaml('monitoring/prometheus.yml'), 'prometheus.yml');
  const jobs = new Map(arr(prom.scrape_configs, 'scrape_configs').map((j) => [String(obj(j, 'job').job_name), obj(j, 'job')]));

  test('scrapes the origin and every peer replica by service name and port', () => {
    const originPort = flagValue(npmRun('origin').args, '--port');
    const peerPort = flagValue(npmRun('peer').args, '--port');
    const origin = jobs.get('origin');
    assert.ok(origin, 'no origin job');
    const targets = arr(origin.static_configs, 'origin static_configs').flatMap((s) => arr(obj(s, 'static config').targets, 'targets'));
    assert.deepEqual(targets, [`origin:${originPort}`]);
    const peer = jobs.get('peer');
    assert.ok(peer, 'no peer job');
    const sd = arr(peer.dns_sd_configs, 'peer dns_sd_configs').map((s) => obj(s, 'dns_sd config'));
    assert.equal(sd.length, 1);
    assert.deepEqual(sd[0]?.names, ['peer']);
    assert.equal(sd[0]?.type, 'A');
    assert.equal(String(sd[0]?.port), peerPort);
    for (const job of jobs.values()) assert.equal(job.metrics_path ?? '/metrics', '/metrics');
    for (const name of ['origin', 'peer']) assert.ok(name in services);
  });

  test('scrapes origin and peers with the admin token the programs get, from a secret file', () => {
    const secrets = obj(compose.secrets, 'top-level secrets');
    assert.equal(obj(secrets.admin_token, 'secret admin_token').environment, 'ADMIN_TOKEN', 'the secret is not the ADMIN_TOKEN the programs get');
    assert.deepEqual(service('prometheus').secrets, ['admin_token']);
    for (const name of ['origin', 'peer']) {
      const env = obj(service(name).environment, `${name} environment`);
      // Compose refuses to start without it, rather than run with operator pages Prometheus cannot scrape.
      assert.match(String(env.ADMIN_TOKEN), /^\$\{ADMIN_TOKEN:\?[^}]+\}$/, `${name}: ADMIN_TOKEN`);
      const job = jobs.get(name);
      assert.ok(job, `no ${name} job`);
      assert.deepEqual(job.authorization, { credentials_file: '/run/secrets/admin_token' }, `${name} job: authorization`);
    }
    assert.equal(jobs.get('prometheus')?.authorization, undefined);
  });

  test('is the file the prometheus service loads', () => {
    const command = arr(service('prometheus').command, 'prometheus command').map(String);
    const config = command.find((c) => c.startsWith('--config.file='))?.slice('--config.file='.length);
    assert.ok(config, 'no --config.file');
    assert.ok(mounts('prometheus').some((m) => m.source === './monitoring/prometheus.yml' && m.target === config), `monitoring/prometheus.yml is not mounted at ${config}`);
    assert.ok(hostPortsOf('prometheus').some((p) => p.container === '9090'));
  });

  test('promtool accepts it', { skip: existsSync(PROMTOOL) ? false : `no promtool at ${PROMTOOL}` }, async () => {
    await run(PROMTOOL, ['check', 'config', '--syntax-only', join(ROOT, 'monitoring/prometheus.yml')], { timeout: 30_000 });
  });
});

describe('Grafana provisioning and dashboard', () => {
  const datasources = arr(obj(readYaml('monitoring/grafana/provisioning/datasources/prometheus.yml'), 'datasources file').datasources, 'datasources').map((d) => obj(d, 'datasource'));
  const providers = arr(obj(readYaml('monitoring/grafana/provisioning/dashboards/p2p-live.yml'), 'providers file').providers, 'providers').map((p) => obj(p, 'provider'));
  const dashboard = obj(JSON.parse(readFileSync(join(ROOT, 'monitoring/grafana/dashboards/p2p-live.json'), 'utf8')), 'dashboard');
  const panels = arr(dashboard.panels, 'panels').map((p) => obj(p, 'panel'));
  const exprs = panels.flatMap((p) => arr(p.targets, `${String(p.title)} targets`).map((t) => String(obj(t, 'target').expr)));

  test('the datasource is the prometheus service, and the provisioning is mounted where Grafana reads it', () => {
    assert.equal(datasources.length, 1);
    const ds = datasources[0] as Obj;
    assert.equal(ds.type, 'prometheus');
    assert.equal(ds.url, 'http://prometheus:9090');
    assert.ok('prometheus' in services);
    const grafana = mounts('grafana');
    assert.ok(grafana.some((m) => m.source === './monitoring/grafana/provisioning' && m.target === '/etc/grafana/provisioning'));
    const path = String(obj(obj(providers[0], 'provider').options, 'provider options').path);
    const dashboards = grafana.find((m) => m.source === './monitoring/grafana/dashboards');
    assert.ok(dashboards, 'monitoring/grafana/dashboards is not mounted');
    assert.equal(dashboards.target, path, 'the provider reads another folder than the one mounted');
    const env = obj(service('grafana').environment, 'grafana environment');
    const home = String(env.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH);
    assert.equal(posix.dirname(home), path);
    assert.ok(existsSync(join(ROOT, 'monitoring/grafana/dashboards', posix.basename(home))), `home dashboard ${home} is not in the folder`);
  });

  test('the dashboard has panels for offload, origin egress, P2P bytes, peers and stalls, all on the provisioned datasource', () => {
    const titles = panels.map((p) => String(p.title));
    for (const want of [/offload ratio/i, /origin egress/i, /p2p bytes/i, /^peers$/i, /stalls/i]) {
      assert.ok(titles.some((t) => want.test(t)), `no panel titled ${want}: ${titles.join(', ')}`);
    }
    const uid = (datasources[0] as Obj).uid;
    for (const p of panels) {
      assert.equal(obj(p.datasource, `${String(p.title)} datasource`).uid, uid, `${String(p.title)}: datasource`);
      const targets = arr(p.targets, 'targets');
      assert.ok(targets.length > 0, `${String(p.title)}: a panel with no query`);
      for (const t of targets) assert.equal(obj(obj(t, 'target').datasource, 'target datasource').uid, uid);
    }
    assert.ok(exprs.length >= panels.length);
  });

  test('reads PromQL metric names as expected', () => {
    assert.deepEqual(promqlMetricNames('sum(rate(a_total{job="x",le=~"y|z"}[1m])) by (instance) / ignoring(job) b + 8 * c offset 5m'), ['a_total', 'b', 'c']);
    assert.deepEqual(promqlMetricNames('count(up{job="peer"} == 1) or vector(0)'), ['up']);
    assert.deepEqual(promqlMetricNames('8 * rate(x_bytes_total[$__rate_interval]) > bool 1e3'), ['x_bytes_total']);
  });

  test("its PromQL names only metrics the origin exports (and Prometheus' own up)", async () => {
    const exported = new Set((await createOriginMetrics().registry.getMetricsAsJSON()).map((m) => m.name));
    exported.add('up');
    const used = new Set(exprs.flatMap(promqlMetricNames));
    for (const m of ['origin_offload_ratio', 'origin_http_segment_bytes_total', 'origin_seed_bytes_total', 'origin_peer_p2p_bytes_total', 'origin_peers', 'origin_peer_stalls_total']) {
      assert.ok(used.has(m), `the dashboard does not chart ${m}`);
    }
    assert.deepEqual([...used].filter((m) => !exported.has(m)), [], 'metrics the origin does not export');
  });

  test('its PromQL parses (promtool, as recording rules)', { skip: existsSync(PROMTOOL) ? false : `no promtool at ${PROMTOOL}` }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'p2p-live-promql-'));
    try {
      const rules = exprs.map((e, i) => `      - record: dashboard:expr_${i}\n        expr: ${JSON.stringify(e.replace(/\$__rate_interval/g, '20s'))}`);
      const file = join(dir, 'rules.yml');
      await writeFile(file, `groups:\n  - name: dashboard\n    rules:\n${rules.join('\n')}\n`);
      await run(PROMTOOL, ['check', 'rules', file], { timeout: 30_000 });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
