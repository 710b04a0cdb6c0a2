/**
 * The V8 flags the origin runs with, everywhere it is started (the image's CMD, `npm run start:origin`, the local
 * stack; infra/origin/dockerfile.test.ts keeps them identical): a young generation fixed at 16 MB per semi-space.
 * V8 otherwise starts it at 1 MB and doubles it as the allocation rate demands, so under steady load the origin's
 * RSS climbed ~30 MB over its first ~3.5 minutes (bench:soak, #15: heap_total 38 -> 53.5 MB with heap_used flat).
 * Fixed, the heap is at its working size within the first minute (soak drift 6.6% -> 2.0%) and scavenges are
 * fewer; the price is ~25 MB of RSS from the start. V8 refuses --min-semi-space-size in NODE_OPTIONS, so it is an
 * argument of the node command.
 */
export const ORIGIN_NODE_FLAGS = ['--min-semi-space-size=16', '--max-semi-space-size=16'] as const;
