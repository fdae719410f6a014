import { DEFAULT_CHANNEL } from '../shared/channel.ts';
import { commandName, helpText } from '../shared/cli.ts';
import { createLogger } from '../shared/log.ts';
import { runMain } from '../shared/process.ts';
import { originFlags, parseOriginConfig } from './config.ts';
import { checkFfmpeg } from './ffmpeg-process.ts';
import { createOrigin } from './origin.ts';

void runMain('origin', async () => {
  const config = parseOriginConfig(process.argv.slice(2), process.env);
  if (!config) {
    process.stdout.write(`${helpText(commandName('npm run origin --'), originFlags)}\n`);
    return null;
  }
  const missing = checkFfmpeg(config.ffmpegPath);
  if (missing) throw new Error(missing);
  const log = createLogger('origin', config.logLevel);
  const origin = createOrigin(config, { log });
  await origin.start();
  const ws = origin.url.replace(/^http/, 'ws');
  const lines: string[] = [];
  const keyed = new Set([...(config.streamKey ? [DEFAULT_CHANNEL] : []), ...config.channelKey.map((k) => k.slice(0, k.indexOf('=')))]);
  for (const c of origin.channels.values()) {
    const tag = origin.channels.size > 1 ? `channel ${c.name}: ` : '';
    lines.push(`origin: ${tag}playlist  ${origin.url}${c.livePath}/index.m3u8`);
    if (!config.redis) lines.push(`origin: ${tag}tracker   ${ws}${c.trackerPath}`);
    if (!keyed.has(c.name)) {
      const how = c.name === DEFAULT_CHANNEL ? 'pass --stream-key or STREAM_KEY' : `pass --channel-key ${c.name}=<key>`;
      lines.push(`origin: ${tag}stream key ${c.streamKey} (generated; ${how} to choose one)`);
    }
    if (c.source.startsWith('rtmp')) lines.push(`origin: ${tag}publish with OBS to ${c.source}`);
  }
  if (config.redis) lines.push('origin: tracker   replicas sharing the swarm through redis (npm run tracker -- --redis …)');
  lines.push(`origin: metrics   ${origin.url}/metrics`);
  if (origin.signingKeySource === 'generated') lines.push(`origin: origin key ${origin.originKey} (made for this run; pass --signing-key FILE to keep one across restarts)`);
  else lines.push(`origin: origin key ${origin.originKey} (${origin.signingKeySource === 'created' ? 'new key written to' : 'from'} ${config.signingKey})`);
  process.stdout.write(`${lines.join('\n')}\n`);
  return { close: () => origin.close(), log };
});
