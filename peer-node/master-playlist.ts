import { type Variant, parseMasterPlaylist, renderMasterPlaylist } from '../shared/master-playlist.ts';
import { LADDER_LIMITS, RENDITION_NAME_PATTERN } from '../shared/rendition.ts';

/** The rungs of a master playlist the node takes, or what is wrong with it. */
export type LadderReading = { ok: true; rungs: Variant[] } | { ok: false; error: string };

/**
 * The origin's master playlist, checked before anything of it reaches a path,
 * a stream id or the player's page: every rung a rendition name, its URI
 * `<r>/index.m3u8`, no rung twice, attributes of plain characters.
 */
export function readLadder(text: string): LadderReading {
  let variants: Variant[];
  try {
    variants = parseMasterPlaylist(text.replaceAll('\r\n', '\n'));
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
  if (variants.length === 0) return { ok: false, error: 'no #EXT-X-STREAM-INF' };
  if (variants.length > LADDER_LIMITS.maxRungs) return { ok: false, error: `more than ${LADDER_LIMITS.maxRungs} rungs` };
  const names = new Set<string>();
  for (const v of variants) {
    if (!RENDITION_NAME_PATTERN.test(v.name)) return { ok: false, error: `rung ${JSON.stringify(v.name)}: not a rendition name` };
    if (v.uri !== `${v.name}/index.m3u8`) return { ok: false, error: `rung ${v.name}: its URI ${JSON.stringify(v.uri)} is not ${v.name}/index.m3u8` };
    if (names.has(v.name)) return { ok: false, error: `rung ${v.name} twice` };
    if (!/^[A-Za-z0-9.,]*$/.test(v.codecs)) return { ok: false, error: `rung ${v.name}: CODECS ${JSON.stringify(v.codecs)}` };
    if (![v.averageBandwidth, v.width, v.height].every((n) => Number.isSafeInteger(n) && n >= 0)) return { ok: false, error: `rung ${v.name}: a bad number` };
    names.add(v.name);
  }
  return { ok: true, rungs: variants };
}

/** The path of rendition `r`'s media playlist on the node, relative to `/`: where the master the node serves points. */
export function localRenditionPlaylist(r: string): string {
  return `live/${r}.m3u8`;
}

/**
 * The master playlist the node serves its player at `/live.m3u8`: the
 * origin's rungs with the same attributes, each pointing at the node's own
 * media playlist of that rendition.
 */
export function renderLocalMaster(rungs: readonly Variant[]): string {
  return renderMasterPlaylist(rungs.map((r) => ({ ...r, uri: localRenditionPlaylist(r.name) })));
}
