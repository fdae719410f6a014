import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { COMMANDS } from '../../bin/commands.ts';
import { parseOriginConfig } from '../../origin/config.ts';
import { createOriginMetrics } from '../../origin/metrics.ts';
import { parseTrackerConfig } from '../../origin/tracker-config.ts';
import { parsePeerConfig } from '../../peer-node/config.ts';
import { NGINX, renderTemplate } from '../helpers/nginx.ts';

/**
 * docker-compose.yml and monitoring/ checked offline (no Docker here): every
 * service has a healthcheck and waits for the health of what it needs; the
 * programs run from the one image the Dockerfile builds, each command with
 * flags its `p2p-live <command> --help` lists and its parser accepts; redis,
 * tracker, edge and origin addresses name services and the ports they listen
 * on; the origin's signing key outlives its container; nginx gets
 * deploy/nginx's template with every placeholder filled, and the result
 * passes `nginx -t`; Prometheus scrapes by service name and port; Grafana's
 * datasource and dashboard folder line up with the mounts; and the
 * dashboard's PromQL parses and names only metrics the origin exports.
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
// Compose files use YAML 1.1 merge keys (`<<: *p2p-live`), which YAML 1.2 leaves off by default.
const readYaml = (file: string): unknown => parse(readFileSync(join(ROOT, file), 'utf8'), { merge: true });

const compose = obj(readYaml('docker-compose.yml'), 'docker-compose.yml');
const services = obj(compose.services, 'services');
const service = (name: string) => obj(services[name], `service ${name}`);
const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');

/** Compose's own `$$` escape, and a container address where the shell would substitute one. */
function shellWords(command: string): string[] {
  return command.replaceAll('$$(hostname -i)', '172.18.0.5').trim().split(/\s+/);
}

/** The image's entry point is `p2p-live`: a service runs `p2p-live <command> <args>`. */
const PROGRAM_IMAGE = 'p2p-live';

/**
 * What a service of the p2p-live image runs: its `command` after the image's
 * entry point, or an `entrypoint: [sh, -c, "exec p2p-live <command> ..."]`
 * where it needs a shell.
 */
function programRun(name: string): { program: string; args: string[] } {
  const s = service(name);
  if (s.entrypoint !== undefined) {
    const [sh, c, text, ...rest] = arr(s.entrypoint, `${name} entrypoint`).map(String);
    assert.deepEqual([sh, c, rest], ['sh', '-c', []], `${name}: entrypoint is not sh -c "..."`);
    assert.equal(s.command, undefined, `${name}: a command after sh -c "..." would be the shell's $0, not the program's`);
    const m = /^exec p2p-live (\S+) (.+)$/.exec(String(text));
    assert.ok(m, `${name}: entrypoint does not exec "p2p-live <command> <flags>": ${text}`);
    return { program: m[1] as string, args: shellWords(m[2] as string) };
  }
  const [program, ...args] = arr(s.command, `${name} command`).map(String);
  assert.ok(program !== undefined, `${name}: empty command`);
  return { program, args };
}
const programServices = Object.keys(services).filter((n) => service(n).image === PROGRAM_IMAGE);
const servicesRunning = (program: string) => programServices.filter((n) => programRun(n).program === program);

function flagValue(args: readonly string[], flag: string): string {
  const i = args.indexOf(flag);
  assert.ok(i >= 0 && args[i + 1] !== undefined, `${flag} not given in ${args.join(' ')}`);
  return args[i + 1] as string;
}
const portOf = (name: string) => flagValue(programRun(name).args, '--port');

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

const healthcheckText = (name: string) => arr(obj(service(name).healthcheck, `${name} healthcheck`).test, `${name} healthcheck test`).join(' ');
const environment = (name: string) => obj(service(name).environment ?? {}, `${name} environment`);

/** The edge's nginx: the template it mounts and the values its environment gives the placeholders. */
const EDGE = 'edge';
const TEMPLATE_DIR = '/etc/nginx/templates';
function edgeTemplate(): { file: string; text: string } {
  const mount = mounts(EDGE).find((m) => m.target.startsWith(`${TEMPLATE_DIR}/`));
  assert.ok(mount, `${EDGE}: nothing mounted in ${TEMPLATE_DIR}, where the nginx image renders templates from`);
  assert.match(mount.target, /\.conf\.template$/, 'the image renders <name>.conf.template into conf.d/<name>.conf');
  const file = join(ROOT, mount.source);
  assert.ok(existsSync(file), `${mount.source} does not exist`);
  return { file: mount.source, text: readFileSync(file, 'utf8') };
}
/** The `${NAME}` placeholders of a template. */
const placeholders = (template: string) => [...new Set([...template.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g)].map((m) => m[1] as string))].sort();
/**
 * Names the nginx image's envsubst replaces in a template: every `$NAME` or
 * `${NAME}` in it that the container's environment defines and
 * NGINX_ENVSUBST_FILTER matches (docker-entrypoint.d/20-envsubst-on-templates.sh).
 */
function substituted(template: string, env: Obj): string[] {
  const filter = new RegExp(String(env.NGINX_ENVSUBST_FILTER ?? ''));
  const names = new Set([...template.matchAll(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g)].map((m) => m[1] as string));
  return [...names].filter((n) => n in env && filter.test(n)).sort();
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
  test('every service has a healthcheck', () => {
    assert.ok(Object.keys(services).length >= 8, `only ${Object.keys(services).join(', ')}`);
    for (const name of Object.keys(services)) {
      const hc = obj(service(name).healthcheck, `${name} healthcheck`);
      const cmd = arr(hc.test, `${name} healthcheck test`);
      assert.ok(cmd[0] === 'CMD' || cmd[0] === 'CMD-SHELL', `${name}: healthcheck test must start with CMD or CMD-SHELL`);
      assert.ok(cmd.length >= 2, `${name}: empty healthcheck`);
      assert.match(String(hc.interval), /^\d+m?s$/, `${name}: healthcheck interval`);
    }
  });

  test('the programs run from the one image the Dockerfile builds; the rest are official images', () => {
    assert.deepEqual(programServices.map((n) => programRun(n).program).sort(), ['origin', 'peer', 'tracker', 'tracker']);
    for (const name of programServices) {
      assert.equal(service(name).build, '.', `${name}: not built from the Dockerfile at the root`);
      // Nothing of the checkout is mounted over the image: it runs the package the image installed.
      assert.ok(!mounts(name).some((m) => m.source === '.' || m.source.startsWith('./')), `${name} mounts the checkout`);
    }
    assert.match(dockerfile, /^ENTRYPOINT \["p2p-live"\]$/m, 'the image does not run p2p-live');
    assert.deepEqual(Object.keys(services).filter((n) => service(n).build !== undefined), programServices);
    assert.match(String(service('redis').image), /^redis:7(\.[\d.]+)?$/);
    assert.match(String(service(EDGE).image), /^nginx:(1\.\d+(\.\d+)?|stable|mainline)$/);
    assert.match(String(service('prometheus').image), /^prom\/prometheus(:v?[\w.-]+)?$/);
    assert.match(String(service('grafana').image), /^grafana\/grafana(:[\w.-]+)?$/);
  });

  const helps = new Map<string, Promise<Set<string>>>();
  /** The flags `p2p-live <program> --help` lists, run from the sources as the package's bin. */
  const helpFlags = (program: string) => {
    let flags = helps.get(program);
    if (!flags) {
      flags = run(process.execPath, ['--import', 'tsx', 'bin/p2p-live.ts', program, '--help'], { cwd: ROOT, timeout: 60_000 }).then(
        ({ stdout }) => new Set([...stdout.matchAll(/^\s+(--[a-z][a-z-]*)/gm)].map((x) => x[1] as string)),
      );
      helps.set(program, flags);
    }
    return flags;
  };
  const parsers: Record<string, (args: readonly string[]) => { host: string } | null> = {
    origin: parseOriginConfig,
    peer: parsePeerConfig,
    tracker: parseTrackerConfig,
  };

  for (const name of programServices) {
    test(`${name} runs \`p2p-live ${programRun(name).program} ...\` with flags its --help lists and its parser accepts`, async () => {
      const { program, args } = programRun(name);
      assert.ok(COMMANDS.some((c) => c.name === program), `${program} is not a p2p-live command`);
      const listed = await helpFlags(program);
      assert.ok(listed.size > 5, `--help listed ${listed.size} flags`);
      const flags = args.filter((a) => a.startsWith('--'));
      // At least --port: with no flag at all, the check below would pass on nothing.
      assert.ok(flags.includes('--port'), `${name}: no --port in ${args.join(' ')}`);
      for (const flag of flags) assert.ok(listed.has(flag), `${flag} is not in \`p2p-live ${program} --help\``);
      const parse = parsers[program];
      assert.ok(parse, `no parser for ${program}`);
      // The values are ones the program's own parser takes (it throws on any other).
      const parsed = parse(args);
      assert.ok(parsed, 'parsed as --help');
      assert.equal(parsed.host, '0.0.0.0', `${name} must listen on all addresses in a container`);
    });
  }

  test('each service waits for the health of what it needs, and nothing waits in a circle', () => {
    const needs = new Map<string, string[]>();
    for (const name of Object.keys(services)) {
      const dependsOn = obj(service(name).depends_on ?? {}, `${name} depends_on`);
      for (const [dep, spec] of Object.entries(dependsOn)) {
        assert.ok(dep in services, `${name} depends on ${dep}, which is not a service`);
        assert.equal(obj(spec, `${name} depends on ${dep}`).condition, 'service_healthy', `${name} -> ${dep}`);
        assert.ok(isObj(service(dep).healthcheck), `${name} waits for ${dep} to be healthy, which has no healthcheck`);
      }
      needs.set(name, Object.keys(dependsOn));
    }
    const order: string[] = [];
    const visiting = new Set<string>();
    const visit = (name: string, path: string[]) => {
      if (order.includes(name)) return;
      assert.ok(!visiting.has(name), `depends_on cycle: ${[...path, name].join(' -> ')}`);
      visiting.add(name);
      for (const dep of needs.get(name) ?? []) visit(dep, [...path, name]);
      order.push(name);
    };
    for (const name of needs.keys()) visit(name, []);
    // What each program needs before it can do anything useful.
    for (const name of [...servicesRunning('tracker'), ...servicesRunning('origin')]) assert.ok(needs.get(name)?.includes('redis'), `${name} does not wait for redis`);
    assert.ok(needs.get(EDGE)?.includes('origin'), 'edge does not wait for the origin');
    for (const name of servicesRunning('peer')) {
      for (const dep of [...servicesRunning('tracker'), EDGE]) assert.ok(needs.get(name)?.includes(dep), `${name} does not wait for ${dep}`);
    }
    assert.ok(needs.get('grafana')?.includes('prometheus'));
  });

  test('origin and tracker replicas share the redis service', () => {
    const users = [...servicesRunning('origin'), ...servicesRunning('tracker')];
    assert.equal(users.length, 3, 'an origin and two replicas');
    for (const name of users) {
      const url = new URL(flagValue(programRun(name).args, '--redis'));
      assert.equal(url.protocol, 'redis:');
      assert.equal(url.hostname, 'redis', `${name}: redis URL names ${url.hostname}`);
      assert.ok(url.hostname in services);
      assert.ok(url.port === '' || url.port === '6379', `${name}: redis listens on 6379, not ${url.port}`);
    }
    assert.deepEqual(arr(obj(service('redis').healthcheck, 'redis healthcheck').test, 'test'), ['CMD', 'redis-cli', 'ping']);
    // It has no password: published, anyone who reaches the host could announce to every peer.
    assert.equal(service('redis').ports, undefined, 'redis is published');
    const ids = servicesRunning('tracker').map((n) => flagValue(programRun(n).args, '--replica-id'));
    assert.equal(new Set(ids).size, ids.length, `replica ids ${ids.join(', ')} are not distinct`);
  });

  test('peers join every tracker replica, at the port it listens on, and fetch through the edge', () => {
    const trackers = servicesRunning('tracker');
    assert.ok(trackers.length >= 2, 'fewer than two tracker replicas');
    const [peer] = servicesRunning('peer');
    assert.ok(peer, 'no peer service');
    const args = programRun(peer).args;
    const urls = flagValue(args, '--tracker')
      .split(',')
      .map((u) => new URL(u));
    assert.deepEqual(urls.map((u) => u.hostname).sort(), [...trackers].sort(), 'the peers do not know every replica');
    for (const url of urls) {
      assert.equal(url.protocol, 'ws:');
      assert.equal(url.pathname, '/tracker');
      assert.equal(url.port, portOf(url.hostname), `${url.hostname} listens on ${portOf(url.hostname)}`);
    }
    const edge = new URL(flagValue(args, '--edge'));
    assert.equal(edge.hostname, EDGE);
    assert.equal(edge.port, String(environment(EDGE).P2P_LISTEN), 'the edge listens on P2P_LISTEN');
    // The origin's own /tracker refuses peers when it runs with --redis: none may be pointed there.
    assert.ok(!urls.some((u) => servicesRunning('origin').includes(u.hostname)));
  });

  test('published ports and healthchecks match the ports the programs and nginx listen on', () => {
    for (const name of [...servicesRunning('origin'), ...servicesRunning('tracker')]) {
      const port = portOf(name);
      assert.deepEqual(hostPortsOf(name), [{ host: port, container: port }], name);
      assert.match(healthcheckText(name), new RegExp(`http://127\\.0\\.0\\.1:${port}/healthz`), name);
    }
    for (const name of servicesRunning('peer')) {
      assert.deepEqual(hostPortsOf(name).map((p) => p.container), [portOf(name)]);
      assert.match(healthcheckText(name), new RegExp(`http://127\\.0\\.0\\.1:${portOf(name)}/healthz`));
    }
    // A replica is healthy once it is in the shared swarm, not merely listening.
    for (const name of servicesRunning('tracker')) assert.match(healthcheckText(name), /\bredis\s*===\s*true\b/, name);
    const listen = String(environment(EDGE).P2P_LISTEN);
    assert.match(listen, /^\d+$/, 'P2P_LISTEN: a port, on every address of the container');
    assert.deepEqual(hostPortsOf(EDGE), [{ host: listen, container: listen }]);
    // Through nginx to the origin: the template passes /healthz upstream.
    assert.match(healthcheckText(EDGE), new RegExp(`http://127\\.0\\.0\\.1:${listen}/healthz`));
  });

  test('the peer service scales: no fixed host port', () => {
    const ports = hostPortsOf('peer');
    // Published, or a host could not reach a replica at all (README: `docker compose port --index 1 peer 9000`).
    assert.ok(ports.length > 0, 'the peer publishes no port');
    for (const p of ports) {
      assert.ok(p.host === null || /^\d+-\d+$/.test(p.host), `peer publishes fixed host port ${p.host}: a second replica could not start`);
    }
  });

  test("the origin's signing key is on a named volume, in a directory the image's user owns", () => {
    const [origin] = servicesRunning('origin');
    assert.ok(origin);
    const key = flagValue(programRun(origin).args, '--signing-key');
    assert.ok(posix.isAbsolute(key), `--signing-key ${key}: not an absolute path`);
    const dir = posix.dirname(key);
    const mount = mounts(origin).find((m) => m.target === dir);
    assert.ok(mount, `nothing is mounted at ${dir}: the key would go with the container`);
    assert.ok(/^[a-z0-9][a-z0-9_.-]*$/.test(mount.source) && mount.source in obj(compose.volumes, 'volumes'), `${mount.source} is not a named volume`);
    // Docker gives a new named volume the owner of the image's directory it is mounted on; a directory
    // the image lacks would be root's, and the origin (USER node) could not create the key there.
    const user = [...dockerfile.matchAll(/^USER (\S+)$/gm)].at(-1)?.[1];
    assert.ok(user && user !== 'root', `the image runs as ${user ?? 'root'}`);
    const esc = dir.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    assert.match(dockerfile, new RegExp(`mkdir -p ${esc}\\b[^\\n]*chown ${user}(:${user})? ${esc}\\b`), `the Dockerfile does not make ${dir} for ${user}`);
  });

  test("the edge mounts deploy/nginx's template, and its environment fills every placeholder and nothing else", () => {
    const { file, text } = edgeTemplate();
    assert.equal(file, './deploy/nginx/p2p-live.conf.template');
    const env = environment(EDGE);
    const wanted = placeholders(text);
    assert.deepEqual(wanted, ['P2P_CACHE_DIR', 'P2P_LISTEN', 'P2P_ORIGIN']);
    // Exactly the placeholders are replaced: a missing one would reach nginx as text, and an
    // environment name that matched one of nginx's own $variables would be replaced too.
    assert.deepEqual(substituted(text, env), wanted);
    const [originHost, originPort] = String(env.P2P_ORIGIN).split(':');
    assert.deepEqual(servicesRunning('origin'), [originHost], 'P2P_ORIGIN is not the origin service');
    assert.equal(originPort, portOf(originHost as string));
    assert.ok(posix.isAbsolute(String(env.P2P_CACHE_DIR)));
  });

  test('the template rendered with the edge\'s values passes nginx -t', { skip: existsSync(NGINX) ? false : `no nginx at ${NGINX}` }, async () => {
    const { text } = edgeTemplate();
    const env = Object.fromEntries(Object.entries(environment(EDGE)).map(([k, v]) => [k, String(v)]));
    const dir = await mkdtemp(join(tmpdir(), 'p2p-live-compose-nginx-'));
    try {
      // Two values only make sense inside Compose: the origin's service name, which nginx resolves at
      // start and Docker's DNS answers there, and the cache directory of the image's file system.
      const [, originPort] = String(env.P2P_ORIGIN).split(':');
      const values = { ...env, P2P_ORIGIN: `127.0.0.1:${originPort}`, P2P_CACHE_DIR: join(dir, String(env.P2P_CACHE_DIR)) };
      // nginx makes the cache directory itself, not its parents: the image has /var/cache/nginx.
      await mkdir(posix.dirname(values.P2P_CACHE_DIR), { recursive: true });
      await writeFile(join(dir, 'p2p-live.conf'), renderTemplate(text, values));
      for (const sub of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) await mkdir(join(dir, 'tmp', sub), { recursive: true });
      // As the image's nginx.conf holds conf.d/*.conf: inside http { }.
      await writeFile(
        join(dir, 'nginx.conf'),
        [
          'events { worker_connections 1024; }',
          'http {',
          ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${join(dir, 'tmp', t === 'client_body' ? 'body' : t)};`),
          `  include ${join(dir, 'p2p-live.conf')};`,
          '}',
          '',
        ].join('\n'),
      );
      // -t parses and opens what the config names, but binds nothing and starts no server.
      const { stderr } = await run(NGINX, ['-t', '-p', dir, '-c', join(dir, 'nginx.conf'), '-g', `pid ${join(dir, 'nginx.pid')}; error_log stderr warn;`], { timeout: 30_000 });
      assert.match(stderr, /test is successful/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('monitoring/prometheus.yml', () => {
  const prom = obj(readYaml('monitoring/prometheus.yml'), 'prometheus.yml');
  const jobs = new Map(arr(prom.scrape_configs, 'scrape_configs').map((j) => [String(obj(j, 'job').job_name), obj(j, 'job')]));

  test('scrapes the origin and every peer replica by service name and port', () => {
    const originPort = portOf('origin');
    const peerPort = portOf('peer');
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
    // The replicas serve /healthz only: a job for them would be a target forever down.
    const scraped = [...jobs.values()].flatMap((j) => [
      ...arr(j.static_configs ?? [], 'static_configs').flatMap((c) => arr(obj(c, 'static config').targets, 'targets').map((t) => String(t).split(':')[0] ?? '')),
      ...arr(j.dns_sd_configs ?? [], 'dns_sd_configs').flatMap((c) => arr(obj(c, 'dns_sd config').names, 'names').map(String)),
    ]);
    for (const host of scraped) assert.ok(host === 'localhost' || (host in services && !servicesRunning('tracker').includes(host)), `scrapes ${host}`);
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
