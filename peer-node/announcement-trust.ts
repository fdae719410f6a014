import type { KeyObject } from 'node:crypto';
import type { Logger } from 'pino';
import { publicKeyFromBase64, publicKeyToBase64 } from '../shared/announcement-signature.ts';
import type { SignedAnnouncement, SignedPartial } from '../shared/tracker-protocol.ts';
import { type Verifier, directVerifier } from '../shared/verifier.ts';
import type { SwarmCounters } from './swarm-counters.ts';

/**
 * Which announcements a peer believes: only those the origin's key signed for
 * this channel. The key is `--origin-key`, or else the first welcome's,
 * pinned for the life of the node: a later welcome naming another key (an
 * impostor tracker, or an origin restarted with a new key) does not replace
 * it, and its announcements are refused until the node is restarted.
 */
export class AnnouncementTrust {
  private pinned: KeyObject | null;

  constructor(
    private readonly channel: string,
    configured: KeyObject | null,
    private readonly log: Logger,
    private readonly counters: SwarmCounters,
    private readonly verifier: Verifier = directVerifier,
  ) {
    this.pinned = configured;
  }

  /** The key a welcome names. */
  offered(originKey: string): void {
    let key: KeyObject;
    try {
      key = publicKeyFromBase64(originKey);
    } catch (e) {
      this.log.error({ offered: originKey, err: (e as Error).message }, 'origin key in the welcome unusable: refused');
      return;
    }
    if (this.pinned === null) {
      this.pinned = key;
      this.log.info({ originKey }, 'origin key pinned from the tracker welcome');
      return;
    }
    if (!this.pinned.equals(key)) {
      this.log.error(
        { offered: originKey, pinned: publicKeyToBase64(this.pinned) },
        'origin key in the welcome differs from the pinned key: refused, keeping the pinned key (restart the node if the origin really changed its key)',
      );
    }
  }

  /** True if `a` is the origin's; otherwise counted and logged, and nothing in it may be used. */
  verified(a: SignedAnnouncement): boolean {
    if (this.pinned !== null && this.verifier.announcement(this.pinned, this.channel, a)) return true;
    this.refused(a.segment.seq, 'announcement signature invalid');
    return false;
  }

  /** The same for a partial announcement (the next piece hashes of a segment the origin is still receiving). */
  verifiedPartial(a: SignedPartial): boolean {
    if (this.pinned !== null && this.verifier.partial(this.pinned, this.channel, a)) return true;
    this.refused(a.partial.seq, 'partial announcement signature invalid');
    return false;
  }

  private refused(seq: number, message: string): void {
    this.counters.badAnnouncements++;
    this.log.warn({ seq, channel: this.channel, reason: this.pinned === null ? 'no origin key pinned yet' : 'not signed by the pinned origin key' }, message);
  }
}
