/** Display formats of both pages, the player's stats panel and the origin's dashboard; a dash for what is not known yet. */
const DASH = '–';

function known(n: number | null | undefined): n is number {
  return n !== null && n !== undefined && Number.isFinite(n);
}

/** `v` (at least 1000) in thousands of `units[0]`, then of `units[1]`...: three significant digits. */
function thousands(v: number, units: readonly string[]): string {
  let i = 0;
  v /= 1000;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0)} ${units[i]}`;
}

export function bytes(n: number | null | undefined): string {
  if (!known(n)) return DASH;
  return n < 1000 ? `${Math.round(n)} B` : thousands(n, ['kB', 'MB', 'GB', 'TB']);
}

/** Bytes per second as bits per second, as links are rated: 1.23 Mbit/s. */
export function bitRate(bytesPerS: number | null | undefined): string {
  if (!known(bytesPerS)) return DASH;
  const bits = bytesPerS * 8;
  return bits < 1000 ? `${Math.round(bits)} bit/s` : thousands(bits, ['kbit/s', 'Mbit/s', 'Gbit/s', 'Tbit/s']);
}

export function seconds(s: number | null | undefined, digits = 1): string {
  return known(s) ? `${s.toFixed(digits)} s` : DASH;
}

export function percent(share: number | null | undefined): string {
  return known(share) ? `${(share * 100).toFixed(share >= 0.995 || share < 0.1 ? 1 : 0)} %` : DASH;
}

export function count(n: number | null | undefined): string {
  return known(n) ? String(Math.round(n)) : DASH;
}

/** A short duration: 850 ms, 4.2 s, 3 min 12 s, 2 h 05 min. */
export function duration(ms: number | null | undefined): string {
  if (!known(ms) || ms < 0) return DASH;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const whole = Math.floor(s);
  if (whole < 3600) return `${Math.floor(whole / 60)} min ${String(whole % 60).padStart(2, '0')} s`;
  return `${Math.floor(whole / 3600)} h ${String(Math.floor((whole % 3600) / 60)).padStart(2, '0')} min`;
}

/** Wall-clock time of day, HH:MM:SS, in the viewer's time zone. */
export function clockTime(tMs: number): string {
  const d = new Date(tMs);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}
