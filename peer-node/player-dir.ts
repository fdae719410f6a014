import { fileURLToPath } from 'node:url';

/** Where the bundled player page is built (npm run build:player); peer nodes serve it at `/`. */
export const PLAYER_DIR = fileURLToPath(new URL('../player/dist/', import.meta.url));
