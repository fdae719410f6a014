import { fileURLToPath } from 'node:url';

/** Where the bundled dashboard page is built (npm run build:dashboard); the origin serves it at `/dashboard`. */
export const DASHBOARD_DIST_DIR = fileURLToPath(new URL('./dist/', import.meta.url));
