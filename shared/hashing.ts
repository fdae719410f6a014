import { createHash } from 'node:crypto';
import { pieceCount, pieceRange } from './segment.ts';

export function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

export function sha256Base64Url(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('base64url');
}

export function hashPieces(data: Uint8Array, pieceSize: number): string[] {
  const out: string[] = [];
  const n = pieceCount(data.byteLength, pieceSize);
  for (let i = 0; i < n; i++) {
    const { start, end } = pieceRange(data.byteLength, pieceSize, i);
    out.push(sha256Base64Url(data.subarray(start, end)));
  }
  return out;
}

export function pieceMatches(data: Uint8Array, expectedBase64Url: string): boolean {
  return sha256Base64Url(data) === expectedBase64Url;
}
