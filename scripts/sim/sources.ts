/**
 * What a simulated player is answered, in place of the HTTP servers of the
 * real run: a peer node's local API (peer-node/http-api.ts) and the origin's
 * plain HLS (origin/origin.ts), each reduced to its behaviour for a player.
 */
import type { Egress } from '../../origin/egress.ts';
import type { LiveWindow } from '../../origin/live-window.ts';
import type { PeerCore } from '../../peer-node/peer-core.ts';
import type { ListedSegment } from '../../harness/playout.ts';
import type { Clock } from '../../shared/clock.ts';
import { type SegmentAnnouncement, segmentFileName } from '../../shared/segment.ts';
import type { PlayerSource } from './player.ts';

/** As the node's HTTP API: a segment not whole within this is answered 504, a playlist with nothing to list 503. */
const SEGMENT_WAIT_MS = 10_000;
const PLAYLIST_WAIT_MS = 4000;

/** A peer node's local API: lists what the node lists; a segment not whole yet is wanted from the swarm and waited for. */
export function peerSource(core: PeerCore, clock: Clock): PlayerSource {
  const store = core.store;
  const asListed = (list: readonly SegmentAnnouncement[]): ListedSegment[] =>
    list.map((s) => ({
      seq: s.seq,
      msn: store.get(s.seq)?.localSeq ?? s.seq,
      uri: `live/${segmentFileName(s.seq)}`,
      durationMs: s.durationMs,
      publishedAtMs: s.publishedAtMs,
    }));
  return {
    listed: () => asListed(core.listed()),
    // The node's own long poll: when it answers decides where the player starts, as over HTTP.
    waitListed: (done) => void core.waitListed(PLAYLIST_WAIT_MS, () => false).then((list) => done(asListed(list))),
    fetch(seq, done) {
      const whole = () => (store.get(seq)?.pieces ?? []) as Uint8Array[];
      const entry = store.get(seq);
      if (!entry) {
        done(null);
        return () => undefined;
      }
      if (entry.complete) {
        done(whole());
        return () => undefined;
      }
      core.swarm.playerRequested(seq);
      const finish = (ok: boolean) => {
        stop();
        timeout.cancel();
        done(ok ? whole() : null);
      };
      const stop = store.onChange(() => {
        const e = store.get(seq);
        if (!e) finish(false);
        else if (e.complete) finish(true);
      });
      const timeout = clock.setTimeout(() => finish(false), SEGMENT_WAIT_MS);
      return () => {
        stop();
        timeout.cancel();
      };
    },
    report: (r) => core.onPlayerReport(r),
  };
}

/** The origin's plain HLS, for the baseline: its playlist, and each segment whole through its egress queue. */
export function originSource(window: LiveWindow, egress: Egress, playlistSegments: number, countEgress: (bytes: number) => void): PlayerSource {
  return {
    listed: () =>
      window.latest(playlistSegments).map((s) => ({
        seq: s.info.seq,
        msn: s.info.seq,
        uri: `live/${segmentFileName(s.info.seq)}`,
        durationMs: s.info.durationMs,
        publishedAtMs: s.info.publishedAtMs,
      })),
    fetch(seq, done) {
      const found = window.lookup(seq);
      if (found.state !== 'live') {
        done(null);
        return () => undefined;
      }
      const data = found.segment.data;
      let wanted = true;
      egress.send(
        'http',
        data.byteLength,
        () => {
          countEgress(data.byteLength);
          done([data]);
        },
        () => wanted,
      );
      return () => void (wanted = false);
    },
    waitListed: null,
    report: null,
  };
}
