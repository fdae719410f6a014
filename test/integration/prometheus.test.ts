import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { MISNAMED_DEFAULT_METRICS } from '../../origin/metrics.ts';
import type { Origin } from '../../origin/origin.ts';
import type { PeerNode } from '../../peer-node/node.ts';
import { startTestOrigin, waitForSegments } from '../helpers/origin.ts';
import { startTestPeer } from '../helpers/swarm.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * Debian's real Prometheus scraping a real origin (ffmpeg test source) and a
 * real peer node every second, then PromQL over what it stored: the metric
 * names and values the Grafana dashboard (monitoring/) relies on. And
 * `promtool check metrics` on both /metrics bodies.
 *
 * Lint policy: promtool exits 3 on lint problems. The origin's exposition must
 * be clean (exit 0, nothing printed). The peer's may still carry the one lint
 * prom-client's default metrics cause, gauges named *_total
 * (MISNAMED_DEFAULT_METRICS, which origin/metrics.ts drops); any other lint,
 * or a parse error, fails.
 */
const PROMETHEUS = process.env.PROMETHEUS_PATH ?? '/usr/bin/prometheus';
const PROMTOOL = process.env.PROMTOOL_PATH ?? '/usr/bin/promtool';
const missing = [PROMETHEUS, PROMTOOL].filter((p) => !existsSync(p));

/** Runs promtool with `input` on stdin. */
function promtool(args: string[], input: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(PROMTOOL, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
    child.stdin.end(input);
  });
}

interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

interface Prometheus {
  api: string;
  close(): Promise<void>;
}

/** Debian's Prometheus on a free port, scraping every second with the given `scrape_configs` entries. */
async function startPrometheus(dir: string, scrapeConfigs: string[]): Promise<Prometheus> {
  const config = join(dir, 'prometheus.yml');
  await writeFile(config, ['global:', '  scrape_interval: 1s', '  scrape_timeout: 1s', 'scrape_configs:', ...scrapeConfigs, ''].join('\n'));
  const child = spawn(
    PROMETHEUS,
    [`--config.file=${config}`, `--storage.tsdb.path=${join(dir, 'data')}`, '--web.listen-address=127.0.0.1:0', '--log.level=info'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let log = '';
  child.stdout?.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (log += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const close = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const force = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(force);
  };
  let api = '';
  try {
    // Port 0, read back from its log line `msg="Listening on" address=127.0.0.1:<port>`: no port to race for.
    api = await waitFor('prometheus to listen', () => {
      if (child.exitCode !== null) throw new Error(`prometheus exited ${child.exitCode}: ${log.slice(-2000)}`);
      const m = /msg="Listening on" address=(127\.0\.0\.1:\d+)/.exec(log);
      return m ? `http://${m[1]}` : undefined;
    }, 60_000, 50);
    await waitFor('prometheus to be ready', async () => {
      if (child.exitCode !== null) throw new Error(`prometheus exited ${child.exitCode}: ${log.slice(-2000)}`);
      return (await fetch(`${api}/-/ready`, { signal: AbortSignal.timeout(2000) })).ok;
    }, 60_000, 250);
  } catch (e) {
    await close();
    throw e;
  }
  return { api, close };
}

async function queryVector(api: string, promql: string): Promise<Sample[]> {
  const res = await fetch(`${api}/api/v1/query?query=${encodeURIComponent(promql)}`, { signal: AbortSignal.timeout(10_000) });
  const body = (await res.json()) as { status: string; error?: string; data?: { resultType: string; result: Sample[] } };
  assert.equal(body.status, 'success', `${promql}: ${body.error}`);
  assert.equal(body.data?.resultType, 'vector', promql);
  return body.data?.result ?? [];
}

interface Target {
  labels: { job: string };
  health: string;
  lastError: string;
}

async function activeTargets(api: string): Promise<Target[]> {
  const res = await fetch(`${api}/api/v1/targets?state=active`, { signal: AbortSignal.timeout(5000) });
  return ((await res.json()) as { data: { activeTargets: Target[] } }).data.activeTargets;
}

describe('a real Prometheus scraping a real origin and peer node', { skip: missing.length > 0 ? `missing ${missing.join(', ')}` : false }, () => {
  let origin: Origin | undefined;
  let peer: PeerNode | undefined;
  let prometheus: Prometheus | undefined;
  let dir: string | undefined;
  let api: string;
  const query = (promql: string) => queryVector(api, promql);

  /** The value of a query that selects one series per job, by job. */
  async function byJob(promql: string): Promise<Map<string, number>> {
    return new Map((await query(promql)).map((s) => [s.metric.job ?? '', Number(s.value[1])]));
  }

  before(async () => {
    origin = await startTestOrigin();
    peer = await startTestPeer(origin, { peerId: 'scraped' });
    dir = await mkdtemp(join(tmpdir(), 'p2p-live-prometheus-'));
    prometheus = await startPrometheus(dir, [
      '  - job_name: origin',
      '    static_configs:',
      `      - targets: ["127.0.0.1:${origin.port}"]`,
      '  - job_name: peer',
      '    static_configs:',
      `      - targets: ["127.0.0.1:${peer.port}"]`,
    ]);
    api = prometheus.api;
  });

  after(async () => {
    await prometheus?.close();
    await peer?.close();
    await origin?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('both targets are up', { timeout: 90_000 }, async (t) => {
    const targets = await waitFor('both targets up', async () => {
      const active = await activeTargets(api);
      return active.length === 2 && active.every((a) => a.health === 'up') ? active : undefined;
    }, 60_000, 500);
    assert.deepEqual(targets.map((a) => a.labels.job).sort(), ['origin', 'peer']);
    for (const a of targets) assert.equal(a.lastError, '');
    t.diagnostic(`targets: ${targets.map((a) => `${a.labels.job} ${a.health}`).join(', ')}`);
  });

  test('PromQL finds the origin\'s counters and gauges, with sane values', { timeout: 90_000 }, async (t) => {
    await waitForSegments(origin as Origin, 3, 60_000);
    // The peer reports every 2 s and Prometheus scrapes every second: wait for a report to have been scraped.
    await waitFor('a peer report scraped', async () => ((await byJob('origin_peer_origin_bytes_total')).get('origin') ?? 0) > 0, 60_000, 500);
    const one = async (promql: string): Promise<number> => {
      const r = await query(promql);
      assert.equal(r.length, 1, `${promql}: ${r.length} series`);
      return Number((r[0] as Sample).value[1]);
    };
    const segments = await one('origin_segments_published_total');
    assert.ok(segments > 0, `origin_segments_published_total ${segments}`);
    // Each channel's series carry its name: the Grafana dashboard's channel picker lists the label's values.
    assert.equal((await query('origin_segments_published_total'))[0]?.metric.channel, 'main');
    const labels = (await (await fetch(`${api}/api/v1/label/channel/values`, { signal: AbortSignal.timeout(5000) })).json()) as { data: string[] };
    assert.deepEqual(labels.data, ['main']);
    const peers = await one('origin_peers');
    assert.ok(peers >= 1, `origin_peers ${peers}`);
    const offload = await one('origin_offload_ratio');
    assert.ok(offload >= 0 && offload <= 1, `origin_offload_ratio ${offload}`);
    const counters = ['origin_http_segment_bytes_total', 'origin_seed_bytes_total', 'origin_audience_segment_bytes_total', 'origin_peer_p2p_bytes_total', 'origin_peer_origin_bytes_total', 'origin_peer_uploaded_bytes_total', 'origin_peer_stalls_total', 'origin_peer_hash_failures_total'];
    const values: Record<string, number> = {};
    for (const c of counters) {
      // Summed: a counter may be split by label (origin_http_segment_bytes_total by egress class).
      values[c] = await one(`sum(${c})`);
      assert.ok(Number.isFinite(values[c]) && (values[c] as number) >= 0, `${c} = ${values[c]}`);
    }
    // One peer: the origin sent it every byte it has, seeded or over HTTP.
    assert.ok((values.origin_http_segment_bytes_total ?? 0) + (values.origin_seed_bytes_total ?? 0) > 0, 'the origin sent nothing');
    assert.equal(values.origin_peer_hash_failures_total, 0);
    // Segments come at most about one a second (1 s segments, ffmpeg paced as live with -re); some came in the last 10 s.
    const perS = await waitFor('a segment rate over 10 s', async () => {
      const r = await query('rate(origin_segments_published_total[10s])');
      return r.length === 1 ? Number((r[0] as Sample).value[1]) : undefined;
    }, 30_000, 500);
    assert.ok(perS > 0 && perS <= 3, `rate(origin_segments_published_total[10s]) = ${perS}`);
    // The expression the dashboard charts as the offload of the last minute: measured by the origin, within [0, 1] once an audience exists.
    const lately = await waitFor('the last minute\'s offload', async () => {
      const r = await query('clamp(1 - (sum(rate(origin_http_segment_bytes_total[1m])) + sum(rate(origin_seed_bytes_total[1m]))) / sum(rate(origin_audience_segment_bytes_total[1m])), 0, 1)');
      const v = r.length === 1 ? Number((r[0] as Sample).value[1]) : Number.NaN;
      return Number.isFinite(v) ? v : undefined;
    }, 30_000, 500);
    assert.ok(lately >= 0 && lately <= 1, `offload over the last minute ${lately}`);
    t.diagnostic(`segments ${segments}, peers ${peers}, offload ${offload}, ${perS.toFixed(2)} segments/s, ${JSON.stringify(values)}`);
  });

  test("PromQL finds the peer node's counters", { timeout: 60_000 }, async () => {
    await waitFor('the peer to have scraped bytes from the origin', async () => ((await byJob('peer_origin_bytes_total')).get('peer') ?? 0) > 0, 30_000, 500);
    for (const c of ['peer_p2p_bytes_total', 'peer_uploaded_bytes_total', 'peer_hash_failures_total', 'peer_stalls_total']) {
      const v = (await byJob(c)).get('peer');
      assert.ok(v !== undefined && v >= 0, `${c} = ${v}`);
    }
    assert.equal((await byJob('up')).size, 2);
  });

  test('promtool check metrics: the origin is clean', async () => {
    const body = await (await fetch(`${(origin as Origin).url}/metrics`)).text();
    const r = await promtool(['check', 'metrics'], body);
    assert.equal(r.output.trim(), '', 'promtool printed lint problems');
    assert.equal(r.code, 0);
  });

  test('promtool check metrics: the peer node parses, with no lint beyond prom-client\'s *_total gauges', async (t) => {
    const body = await (await fetch(`${(peer as PeerNode).url}/metrics`)).text();
    const r = await promtool(['check', 'metrics'], body);
    const problems = r.output.split('\n').map((l) => l.trim()).filter(Boolean);
    const known = problems.filter((l) => MISNAMED_DEFAULT_METRICS.some((m) => l.startsWith(`${m} `)));
    if (known.length > 0) t.diagnostic(`known prom-client lint on the peer (origin/metrics.ts dropMisnamedDefaultMetrics fixes it): ${known.join('; ')}`);
    assert.deepEqual(problems.filter((l) => !known.includes(l)), [], 'lint problems beyond the known ones');
    assert.ok(r.code === 0 || (r.code === 3 && known.length > 0), `promtool exited ${r.code}: ${r.output}`);
  });
});

describe('a real Prometheus scraping with the admin token, as monitoring/prometheus.yml does', { skip: missing.length > 0 ? `missing ${missing.join(', ')}` : false }, () => {
  const TOKEN = 'prometheus-test-token-0123456789';
  let origin: Origin | undefined;
  let peer: PeerNode | undefined;
  let prometheus: Prometheus | undefined;
  let dir: string | undefined;

  before(async () => {
    origin = await startTestOrigin({ adminToken: TOKEN });
    peer = await startTestPeer(origin, { peerId: 'scraped-with-token', adminToken: TOKEN });
    dir = await mkdtemp(join(tmpdir(), 'p2p-live-prometheus-'));
    // With a newline at its end, as `echo` or a Compose secret leaves it.
    const tokenFile = join(dir, 'admin_token');
    await writeFile(tokenFile, `${TOKEN}\n`);
    const job = (name: string, port: number, auth: boolean) => [
      `  - job_name: ${name}`,
      ...(auth ? ['    authorization:', `      credentials_file: ${tokenFile}`] : []),
      '    static_configs:',
      `      - targets: ["127.0.0.1:${port}"]`,
    ];
    prometheus = await startPrometheus(dir, [...job('origin', origin.port, true), ...job('peer', peer.port, true), ...job('origin-no-token', origin.port, false)]);
  });

  after(async () => {
    await prometheus?.close();
    await peer?.close();
    await origin?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('the token opens both targets; without it the origin answers 401', { timeout: 90_000 }, async (t) => {
    const api = (prometheus as Prometheus).api;
    const targets = await waitFor('all three targets scraped', async () => {
      const active = await activeTargets(api);
      return active.length === 3 && active.every((a) => a.health !== 'unknown') ? active : undefined;
    }, 60_000, 500);
    const health = new Map(targets.map((a) => [a.labels.job, a]));
    assert.equal(health.get('origin')?.health, 'up', health.get('origin')?.lastError);
    assert.equal(health.get('peer')?.health, 'up', health.get('peer')?.lastError);
    assert.equal(health.get('origin-no-token')?.health, 'down');
    assert.match(health.get('origin-no-token')?.lastError ?? '', /401/);
    const published = await waitFor('a segment count scraped with the token', async () => {
      const r = await queryVector(api, 'origin_segments_published_total{job="origin"}');
      return r.length === 1 ? Number((r[0] as Sample).value[1]) : undefined;
    }, 30_000, 500);
    assert.ok(published >= 0);
    assert.equal((await queryVector(api, 'peer_p2p_bytes_total{job="peer"}')).length, 1);
    t.diagnostic(`origin-no-token: ${health.get('origin-no-token')?.lastError}`);
  });
});
