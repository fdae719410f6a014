/** Messages between the benchmark runner and its workers (Node IPC, structured clone). */
import type { PeerConfig } from '../../peer-node/config.ts';
import type { SwarmCounters } from '../../peer-node/swarm-counters.ts';
import type { PlaybackResult } from '../../harness/playback-model.ts';
import type { AbrPlaybackResult } from '../../harness/abr-playback-model.ts';
import type { RenditionStats } from '../../shared/player-api.ts';

export interface WorkerPeer {
  id: string;
  seed: number;
  config: Partial<PeerConfig>;
  /** Played by the ABR model (a ladder) rather than the one-stream model. */
  abr?: boolean;
}

export interface PeerFinal {
  id: string;
  counters: SwarmCounters;
  /** An AbrPlaybackResult for a peer played by the ABR model. */
  playback: PlaybackResult | AbrPlaybackResult;
  /** On a ladder: what the node did for each rendition it joined. */
  renditions?: RenditionStats[];
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
  | { type: 'stats'; peers: { id: string; counters: SwarmCounters; neighbours: number; renditions?: RenditionStats[] }[] }
  | { type: 'final'; peers: PeerFinal[]; cpuMs: number };
