/** Messages between the benchmark runner and its workers (Node IPC, structured clone). */
import type { PeerConfig } from '../../peer-node/config.ts';
import type { SwarmCounters } from '../../peer-node/swarm-counters.ts';
import type { PlaybackResult } from '../../harness/playback-model.ts';

export interface WorkerPeer {
  id: string;
  seed: number;
  config: Partial<PeerConfig>;
}

export interface PeerFinal {
  id: string;
  counters: SwarmCounters;
  playback: PlaybackResult;
  lags: { seq: number; lagMs: number }[];
  joinedAtMs: number;
  leftAtMs: number;
}

export type ToWorker =
  | { type: 'add'; trackerUrl: string; peers: WorkerPeer[] }
  | { type: 'remove'; ids: string[] }
  | { type: 'finish' };

export type ToRunner =
  | { type: 'ready' }
  | { type: 'stats'; peers: { id: string; counters: SwarmCounters; neighbours: number }[] }
  | { type: 'final'; peers: PeerFinal[]; cpuMs: number };
