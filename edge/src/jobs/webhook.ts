/**
 * Job completion webhooks: when a job finishes (succeeded, failed, partially failed), its Durable Object POSTs
 * `{"event": "job.finished", "job": <status>}` to the URL given at submission (`x-webhook-url`), signed like the
 * edge's calls to the origin (shared/signing: `x-signature-timestamp`, `x-signature-nonce`, `x-signature` = HMAC-SHA256
 * over method, path, timestamp, nonce and the body's sha256) with the submitting key's webhook secret, which that key
 * reads at GET /v1/jobs/webhook-secret. Each key's secret is derived from WEBHOOK_SIGNING_SECRET and the key id, so
 * one client cannot sign for another. A non-2xx answer or a network error is retried with backoff (30 s, 1, 2, 4,
 * 8 min), then given up (`webhook.state: failed` in the job's status).
 */
import { InvalidInputError } from '../../../shared/errors/index.ts';
import { bytesToHex } from '../../../shared/hash/index.ts';
import { hmacKey, signRequest } from '../../../shared/signing/index.ts';

export const WEBHOOK_MAX_ATTEMPTS = 6;
/** Longest wait for the receiver, ms. */
export const WEBHOOK_TIMEOUT_MS = 10_000;

/** Delay before attempt `n + 1` after `n` failed ones: 30 s, 1, 2, 4, 8 min. */
export const webhookBackoffMs = (failed: number) => 30_000 * 2 ** Math.max(0, failed - 1);

/** The webhook secret of one API key (hex): HMAC-SHA256(WEBHOOK_SIGNING_SECRET, "webhook:" + key id). */
export async function webhookSecretFor(secret: string, keyId: string): Promise<string> {
  const key = await hmacKey(secret);
  const mac = await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(`webhook:${keyId}`));
  return bytesToHex(new Uint8Array(mac));
}

/**
 * The submission's webhook URL, checked: https (http only to localhost, for local development), no credentials,
 * at most 2,048 characters. 400 naming the problem otherwise.
 */
export function checkWebhookUrl(raw: string): string {
  if (raw.length > 2048) throw new InvalidInputError('x-webhook-url is longer than 2048 characters');
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new InvalidInputError('x-webhook-url is not an absolute URL');
  }
  const local = url.hostname === 'localhost' || url.hostname === '127.0.0.1' || url.hostname === '[::1]';
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && local)) {
    throw new InvalidInputError('x-webhook-url must be https (http only to localhost)');
  }
  if (url.username !== '' || url.password !== '') {
    throw new InvalidInputError('x-webhook-url must not carry credentials');
  }
  return url.toString();
}

/** One delivery: the signed POST; resolves to the status (0 for a network error or timeout) and an error text. */
export async function deliverWebhook(
  url: string,
  secret: string,
  payload: unknown,
  fetcher: typeof fetch = fetch,
): Promise<{ status: number; error: string | null }> {
  const body = JSON.stringify(payload);
  const target = new URL(url);
  const headers = await signRequest({
    secret,
    method: 'POST',
    path: `${target.pathname}${target.search}`,
    body,
  });
  try {
    const res = await fetcher(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'user-agent': 'edge-origin-inference-webhook/1',
        ...headers,
      },
      body,
      signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS),
    });
    await res.body?.cancel();
    return { status: res.status, error: res.ok ? null : `HTTP ${res.status}` };
  } catch (err) {
    return { status: 0, error: err instanceof Error ? err.message : String(err) };
  }
}
