/** Display formats for the stats panel; a dash for what is not known yet. */
const DASH = '–';

export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return DASH;
  if (n < 1000) return `${Math.round(n)} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n / 1000;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0)} ${units[i]}`;
}

export function seconds(s: number | null | undefined, digits = 1): string {
  return s === null || s === undefined || !Number.isFinite(s) ? DASH : `${s.toFixed(digits)} s`;
}

export function percent(share: number | null | undefined): string {
  return share === null || share === undefined || !Number.isFinite(share) ? DASH : `${(share * 100).toFixed(share >= 0.995 || share < 0.1 ? 1 : 0)} %`;
}

export function count(n: number | null | undefined): string {
  return n === null || n === undefined || !Number.isFinite(n) ? DASH : String(Math.round(n));
}
