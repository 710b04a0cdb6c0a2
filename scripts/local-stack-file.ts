/**
 * Where `npm start` leaves the running stack's edge URL, admin key and S3 stand-in (git-ignored), for the CLIs that
 * talk to it (`npm run drift`, `keys`, `rollout`, `publish`, `retrain`). Its own module so those CLIs do not import
 * the stack launcher (scripts/stack.ts) and what it loads.
 */
export const LOCAL_STACK_FILE = '.wrangler/local-stack.json';
