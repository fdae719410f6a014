import { commandName, helpText } from '../shared/cli.ts';
import { createLogger } from '../shared/log.ts';
import { runMain } from '../shared/process.ts';
import { createReplicaServer } from './replica-server.ts';
import { parseTrackerConfig, trackerFlags } from './tracker-config.ts';

void runMain('tracker', async () => {
  const config = parseTrackerConfig(process.argv.slice(2), process.env);
  if (!config) {
    process.stdout.write(`${helpText(commandName('npm run tracker --'), trackerFlags)}\n`);
    return null;
  }
  const log = createLogger('tracker', config.logLevel);
  const replica = createReplicaServer(config, { log });
  await replica.start();
  const lines = [`tracker ${replica.replicaId}: peers join ${replica.url}/tracker (channel main), ${replica.url}/tracker/<channel>`];
  lines.push(`tracker ${replica.replicaId}: channels ${[...replica.channels.keys()].join(', ') || '(none registered yet)'}`);
  process.stdout.write(`${lines.join('\n')}\n`);
  return { close: () => replica.close(), log };
});
