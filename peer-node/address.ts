/** An IPv4 peer reached over a dual-stack socket shows as ::ffff:a.b.c.d; one host, one address. */
export function normaliseAddress(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

/** The host of a peer's URL, as the per-address cap counts it. */
export function hostOf(url: string): string {
  try {
    return normaliseAddress(new URL(url).hostname.replace(/^\[|\]$/g, ''));
  } catch {
    return url;
  }
}
