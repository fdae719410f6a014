import { setFlagsFromString } from 'node:v8';

/**
 * Imported first by the peer program's entry, before anything allocates much
 * (and by the p2p-live command before it loads a program whose row in
 * bin/commands.ts asks for a small heap).
 * V8 grows the young generation from 1 MB to 16 MB a semi-space (32 MB
 * resident) as soon as a process allocates steadily, which a relaying peer
 * always does: nearly all it allocates is short-lived (frames, requests), so a
 * larger nursery buys little and cost a viewer's peer process ~20 MB in
 * `npm run bench`. Growth is read at each scavenge, so unlike
 * --max-semi-space-size this flag still works once the heap exists; it keeps
 * the nursery at its initial size without a launcher to pass node flags
 * (`npm run peer`, `p2p-live peer` and the benchmark all start the program as is).
 */
setFlagsFromString('--semi-space-growth-factor=1');
