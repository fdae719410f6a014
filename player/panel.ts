import type { NodeStats } from '../shared/player-api.ts';
import { bytes, count, percent, seconds } from '../web/format.ts';
import { p2pShare } from './node-stats.ts';
import type { PlayPosition } from './position.ts';
import { type PlayingLevel, describeLevel } from './rendition.ts';
import type { StallSnapshot } from './stalls.ts';

/** Everything the page shows, read at each refresh of the panel. */
export interface View {
  status: { state: 'starting' | 'waiting' | 'live' | 'buffering' | 'paused' | 'recovering' | 'error'; text: string; detail: string };
  peer: NodeStats | null;
  /** The peer node did not answer its last stats request. */
  peerUnreachable: boolean;
  p2pShare: number | null;
  bufferS: number | null;
  latencyS: number | null;
  captureDelayS: number | null;
  stalls: StallSnapshot;
  position: PlayPosition | null;
  /** The rendition playing, and hls.js's switches between renditions. */
  level: PlayingLevel | null;
  switches: number;
}

function must<T extends Element>(root: ParentNode, selector: string): T {
  const el = root.querySelector<T>(selector);
  if (!el) throw new Error(`player page is missing ${selector}`);
  return el;
}

/**
 * One figure on the page: its single text node and its `data-value`, written
 * only when they change. Rewriting `textContent` replaces the node, which
 * dirties style and layout even for the same text; most figures stay the same
 * from one refresh to the next.
 */
class Field {
  private readonly text: Text;
  private value: string | undefined;

  constructor(private readonly el: HTMLElement) {
    this.text = el.ownerDocument.createTextNode(el.textContent ?? '');
    el.replaceChildren(this.text);
  }

  set(text: string, value?: string): void {
    if (this.text.data !== text) this.text.data = text;
    if (value !== undefined && value !== this.value) {
      this.value = value;
      this.el.dataset.value = value;
    }
  }
}

/** The header and the stats grid of index.html; each number also sits raw in `data-value` for tests. */
export class Panel {
  private readonly status: HTMLElement;
  private readonly statusText: Field;
  private readonly detail: Field;
  private readonly peerLine: Field;
  private readonly shareBar: HTMLElement;
  private readonly shareFill: HTMLElement;
  private shareScale = '';
  private readonly stats = new Map<string, Field>();

  constructor(root: Document) {
    this.status = must(root, '#status');
    this.statusText = new Field(must(root, '#status-text'));
    this.detail = new Field(must(root, '#status-detail'));
    this.peerLine = new Field(must(root, '#peer-line'));
    this.shareFill = must(root, '#share-fill');
    this.shareBar = must(root, '.share');
    for (const el of root.querySelectorAll<HTMLElement>('[data-stat]')) this.stats.set(el.dataset.stat ?? '', new Field(el));
  }

  renderStatus(s: View['status']): void {
    if (this.status.dataset.state !== s.state) this.status.dataset.state = s.state;
    this.statusText.set(s.text);
    this.detail.set(s.detail);
  }

  render(v: View): void {
    this.renderStatus(v.status);
    const p = v.peer;
    this.peerLine.set(
      v.peerUnreachable
        ? 'peer node: not answering'
        : p
          ? `peer ${p.peerId || '?'} · tracker ${p.trackerConnected ? 'connected' : 'not connected'}`
          : 'peer node: connecting…',
    );
    this.set('p2p-share', percent(v.p2pShare), v.p2pShare);
    // A transform, not a width: the bar is repainted, the page is not laid out again.
    const scale = `scaleX(${(v.p2pShare ?? 0).toFixed(3)})`;
    if (scale !== this.shareScale) {
      this.shareScale = scale;
      this.shareFill.style.transform = scale;
    }
    if (this.shareBar.hasAttribute('data-empty') !== (v.p2pShare === null)) this.shareBar.toggleAttribute('data-empty', v.p2pShare === null);
    this.set('p2p-bytes', bytes(p?.p2pBytes), p?.p2pBytes);
    this.set('origin-bytes', bytes(p?.originBytes), p?.originBytes);
    this.set('neighbours', count(p?.neighbours), p?.neighbours);
    this.set('tracker', p ? (p.trackerConnected ? 'tracker connected' : 'tracker not connected') : '–', p ? Number(p.trackerConnected) : null);
    this.set('buffer', seconds(v.bufferS), v.bufferS);
    this.set('latency', seconds(v.latencyS), v.latencyS);
    this.set('capture-delay', seconds(v.captureDelayS), v.captureDelayS);
    this.set('stalls', count(v.stalls.stalls), v.stalls.stalls);
    this.set('stall-time', seconds(v.stalls.stallMs / 1000), v.stalls.stallMs / 1000);
    const down = p ? p.p2pBytes + p.originBytes : null;
    this.set('downloaded', bytes(down), down);
    this.set('duplicates', bytes(p?.duplicateBytes), p?.duplicateBytes);
    this.set('uploaded', bytes(p?.uploadedBytes), p?.uploadedBytes);
    this.set('segment', v.position ? `#${v.position.seq} +${(v.position.offsetMs / 1000).toFixed(1)} s` : '–', v.position?.seq);
    this.set('segments-held', count(p?.segments), p?.segments);
    this.set('hash-failures', count(p?.hashFailures), p?.hashFailures);
    this.stats.get('rendition')?.set(v.level?.name ?? (p && p.renditions.length === 0 ? 'one stream' : '–'), v.level?.name ?? '');
    this.set('rendition-detail', describeLevel(v.level), v.level?.bitrate);
    this.set('switches', count(v.switches), v.switches);
    const shares = p?.renditions ?? [];
    this.stats
      .get('rendition-shares')
      ?.set(shares.length === 0 ? '–' : shares.map((r) => `${r.name} ${percent(p2pShare(r))}${r.role === 'active' ? '' : ` (${r.role})`}`).join(' · '), shares.map((r) => `${r.name}=${p2pShare(r) ?? ''}`).join(','));
  }

  private set(key: string, text: string, value: number | null | undefined): void {
    this.stats.get(key)?.set(text, value === null || value === undefined || !Number.isFinite(value) ? '' : String(value));
  }
}
