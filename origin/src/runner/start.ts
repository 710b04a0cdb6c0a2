/** Starts `count` threads with `spawn`; when any fails, closes what did start and rethrows its error. */
export async function startAll(
  count: number,
  spawn: () => Promise<unknown>,
  close: () => Promise<void>,
): Promise<void> {
  try {
    await Promise.all(Array.from({ length: count }, spawn));
  } catch (err) {
    await close();
    throw err;
  }
}
