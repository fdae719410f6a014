/** Display formats of the dashboard beyond the player's (player/format.ts); a dash for what is not known. */
const DASH = '–';

/** Bytes per second as bits per second, as links are rated: 1.23 Mbit/s. */
export function bitRate(bytesPerS: number | null | undefined): string {
  if (bytesPerS === null || bytesPerS === undefined || !Number.isFinite(bytesPerS)) return DASH;
  const bits = bytesPerS * 8;
  if (bits < 1000) return `${Math.round(bits)} bit/s`;
  const units = ['kbit/s', 'Mbit/s', 'Gbit/s', 'Tbit/s'];
  let v = bits / 1000;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0)} ${units[i]}`;
}

/** A short duration: 850 ms, 4.2 s, 3 min 12 s, 2 h 05 min. */
export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms) || ms < 0) return DASH;
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
