/**
 * The model manifest (schema.ts: models/<name>/<version>/manifest.json, validated with zod) and the release rules
 * every tier applies to it (release.ts: which release is the latest, whether an artifact is what it lists).
 */
export * from './release.ts';
export * from './schema.ts';
