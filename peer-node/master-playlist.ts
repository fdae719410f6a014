/** A rendition's name, as the origin's `--ladder` names it (`720p`): the contract's pattern. */
export const RENDITION_NAME = /^[0-9]{2,4}p$/;

/** One rung of the origin's master playlist, as the peer node serves it on. */
export interface Rung {
  name: string;
  /** The `#EXT-X-STREAM-INF:` attribute list, exactly as the origin wrote it. */
  attributes: string;
  bandwidth: number;
}

/** The most rungs the node takes from one master playlist: more is no ladder the origin makes. */
export const MAX_RUNGS = 16;

/**
 * The rungs of the origin's master playlist, in its order (highest first),
 * or an error saying what is wrong with it. A rung is named by its `NAME`
 * attribute or else by its URI (`<r>/index.m3u8`); both must name the same
 * rendition, and every name must be a rendition name, so nothing from the
 * playlist reaches a path or a stream id unchecked.
 */
export function parseMasterPlaylist(text: string): { ok: true; rungs: Rung[] } | { ok: false; error: string } {
  const lines = text.split(/\r?\n/).map((l) => l.trim());
  if (lines[0] !== '#EXTM3U') return { ok: false, error: 'not an M3U playlist' };
  const rungs: Rung[] = [];
  const names = new Set<string>();
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] as string;
    if (!line.startsWith('#EXT-X-STREAM-INF:')) continue;
    const attributes = line.slice('#EXT-X-STREAM-INF:'.length);
    // Printable ASCII only: the line is served on as it is.
    if (!/^[\x20-\x7e]+$/.test(attributes)) return { ok: false, error: `rung ${rungs.length + 1}: attributes not printable ASCII` };
    let uri = '';
    while (++i < lines.length && (uri = lines[i] as string) === '');
    const fromUri = /^([^/]+)\/index\.m3u8$/.exec(uri)?.[1] ?? null;
    const fromName = /(?:^|,)NAME="([^"]*)"/.exec(attributes)?.[1] ?? null;
    const name = fromName ?? fromUri;
    if (name === null || !RENDITION_NAME.test(name)) return { ok: false, error: `rung ${rungs.length + 1}: no rendition name (NAME or <r>/index.m3u8)` };
    if (fromUri !== name) return { ok: false, error: `rung ${name}: its URI ${JSON.stringify(uri)} is not ${name}/index.m3u8` };
    const bandwidth = Number(/(?:^|,)BANDWIDTH=(\d{1,10})(?:,|$)/.exec(attributes)?.[1] ?? Number.NaN);
    if (!(bandwidth > 0)) return { ok: false, error: `rung ${name}: no BANDWIDTH` };
    if (names.has(name)) return { ok: false, error: `rung ${name} twice` };
    names.add(name);
    rungs.push({ name, attributes, bandwidth });
    if (rungs.length > MAX_RUNGS) return { ok: false, error: `more than ${MAX_RUNGS} rungs` };
  }
  if (rungs.length === 0) return { ok: false, error: 'no #EXT-X-STREAM-INF' };
  return { ok: true, rungs };
}

/** The path of rendition `r`'s media playlist on the node, relative to `/`: where the master the node serves points. */
export function localRenditionPlaylist(r: string): string {
  return `live/${r}.m3u8`;
}

/**
 * The master playlist the node serves its player at `/live.m3u8`: the
 * origin's rungs with their attributes unchanged, each pointing at the
 * node's own media playlist of that rendition.
 */
export function renderLocalMaster(rungs: readonly Rung[]): string {
  const lines = ['#EXTM3U', '#EXT-X-VERSION:3', '#EXT-X-INDEPENDENT-SEGMENTS'];
  for (const r of rungs) lines.push(`#EXT-X-STREAM-INF:${r.attributes}`, localRenditionPlaylist(r.name));
  return `${lines.join('\n')}\n`;
}
