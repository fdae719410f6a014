export type RangeResult = { kind: 'full' } | { kind: 'partial'; start: number; end: number } | { kind: 'unsatisfiable' };

/**
 * Parses a single-range `Range` header (RFC 9110) for a body of `size` bytes;
 * `end` is exclusive. Multiple ranges are answered with the full body, which
 * the RFC allows and which keeps us from building multipart responses.
 * Not express's req.range(): range-parser refuses a suffix longer than the
 * body (`bytes=-500` of 100 bytes), which the RFC answers with all of it.
 */
export function parseRange(header: string | undefined, size: number): RangeResult {
  if (!header) return { kind: 'full' };
  const eq = header.indexOf('=');
  // A unit we do not know is ignored (RFC 9110 §14.2): the whole body, as if there were no Range.
  if (eq === -1 || header.slice(0, eq).trim().toLowerCase() !== 'bytes') return { kind: 'full' };
  const set = header.slice(eq + 1);
  if (set.includes(',')) return { kind: 'full' };
  const m = /^\s*(\d*)-(\d*)\s*$/.exec(set);
  if (!m) return { kind: 'unsatisfiable' };
  const [, a = '', b = ''] = m;
  if (a === '' && b === '') return { kind: 'unsatisfiable' };
  if (a === '') {
    const n = Number(b);
    if (n === 0) return { kind: 'unsatisfiable' };
    return { kind: 'partial', start: Math.max(0, size - n), end: size };
  }
  const start = Number(a);
  const end = b === '' ? size : Math.min(size, Number(b) + 1);
  if (start >= size || end <= start) return { kind: 'unsatisfiable' };
  return { kind: 'partial', start, end };
}
