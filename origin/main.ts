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
  const lines = [
    `origin: playlist  ${origin.url}/live/index.m3u8`,
    config.redis ? `origin: tracker   replicas sharing the swarm through redis (npm run tracker -- --redis …)` : `origin: tracker   ${origin.url.replace(/^http/, 'ws')}/tracker`,
    `origin: metrics   ${origin.url}/metrics`,
  ];
  if (origin.signingKeySource === 'generated') lines.push(`origin: origin key ${origin.originKey} (made for this run; pass --signing-key FILE to keep one across restarts)`);
  else lines.push(`origin: origin key ${origin.originKey} (${origin.signingKeySource === 'created' ? 'new key written to' : 'from'} ${config.signingKey})`);
  if (!config.streamKey) lines.push(`origin: stream key ${origin.streamKey} (generated; pass --stream-key or STREAM_KEY to choose one)`);
  if (config.source.startsWith('rtmp')) lines.push(`origin: publish with OBS to ${config.source}`);
  process.stdout.write(`${lines.join('\n')}\n`);
  return { close: () => origin.close(), log };
});
