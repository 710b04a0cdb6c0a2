/** The web console's session routes (edge/src/console/session.ts). */
import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import {
  errorResponses,
  errorsOf,
  type HeaderSpec,
  jsonResponse,
  mergeErrors,
  named,
  OPEN_HEADERS,
  responseHeaders,
} from '../../../shared/openapi/spec.ts';
import { ANY_ROUTE_ERRORS } from './common.ts';

const SESSION_COOKIE_NOTE =
  'The session cookie `__Host-console` (HttpOnly, Secure, SameSite=Strict, signed) holds a random session id only; ' +
  'the key is stored nowhere.';

const Session = named(
  z.object({
    csrf_token: z
      .string()
      .meta({ description: 'Send as `x-csrf-token` on every state-changing call with the cookie' }),
    expires_at: z
      .string()
      .meta({ description: 'When the session ends (CONSOLE_SESSION_SECONDS after sign-in)' }),
    principal: z.object({
      name: z.string(),
      tenant: z.string(),
      scopes: z.array(z.string()),
      models: z.array(z.string()),
    }),
  }),
  'ConsoleSession',
);

const SET_COOKIE = {
  'set-cookie': { description: SESSION_COOKIE_NOTE, required: true, schema: { type: 'string' } },
} satisfies Record<string, HeaderSpec>;

/**
 * A page's error responses: JSON like every route, and for 503 (the session store down) also the HTML page a
 * person reads.
 */
function pageErrors(errors: Parameters<typeof errorResponses>[0]) {
  const out = errorResponses(errors);
  const down = out['503'];
  if (down?.content !== undefined) {
    down.description = `${down.description}; a browser gets the HTML page that says so (text/html)`;
    down.content['text/html'] = { schema: { type: 'string' } };
  }
  return out;
}

export function registerConsoleRoutes(registry: OpenAPIRegistry): void {
  const pageHeaders = responseHeaders({
    ...OPEN_HEADERS,
    'content-security-policy': {
      description:
        "No inline script or style; nothing framed (frame-ancestors 'none'); forms to this origin only",
      required: true,
      schema: { type: 'string' },
    },
    'x-content-type-options': { description: 'nosniff', required: true, schema: { type: 'string' } },
  });
  registry.registerPath({
    method: 'get',
    path: '/console',
    tags: ['console'],
    summary: "The console's home: the sign-in form, or who is signed in",
    description:
      'A server-rendered page (works without script); its stylesheet is a static asset (/console/assets/).',
    request: {
      query: z.object({
        error: z.string().optional().meta({
          description:
            'Why a form sign-in came back: `missing`, `rejected` or `unavailable` (other values are ignored)',
        }),
        next: z.string().optional().meta({
          description:
            'The view the sign-in form goes to after: `/console/{view}` (other values are ignored)',
        }),
      }),
    },
    responses: {
      200: {
        description: 'An HTML page',
        headers: pageHeaders,
        content: { 'text/html': { schema: { type: 'string' } } },
      },
      ...pageErrors(ANY_ROUTE_ERRORS),
    },
  });
  const html = (description: string) => ({
    description,
    headers: pageHeaders,
    content: { 'text/html': { schema: { type: 'string' as const } } },
  });
  registry.registerPath({
    method: 'get',
    path: '/console/{view}',
    tags: ['console'],
    summary: 'A console view: review, models, jobs or keys',
    description:
      "The view's page (its client module loads the data from this API with the session cookie). Review opens to " +
      'reviewer and admin keys, Models to admin, Jobs to infer and admin, Keys & usage to tenant_admin and admin; ' +
      'another key gets the 403 page. Without a session: 303 to the sign-in page, which comes back here.',
    security: [{ session: [] }],
    request: {
      params: z.object({ view: z.enum(['review', 'models', 'jobs', 'keys']) }),
    },
    responses: {
      200: html('The view (HTML)'),
      303: {
        description: 'No session: to the sign-in page (`/console?next=/console/{view}`)',
        headers: responseHeaders({
          ...OPEN_HEADERS,
          location: { description: 'The sign-in page', required: true, schema: { type: 'string' } },
        }),
      },
      403: html("The 403 page: the key's scopes do not open this view (HTML)"),
      ...pageErrors(mergeErrors(ANY_ROUTE_ERRORS, errorsOf('not_found'))),
    },
  });
  registry.registerPath({
    method: 'post',
    path: '/console/sign-out',
    tags: ['console'],
    summary: 'Sign out from a form (no script): the session is deleted, then to /console',
    description: "A form post with the session's `csrf_token`, from the same origin (403 otherwise).",
    security: [{ session: [] }],
    request: {
      body: {
        required: true,
        content: { 'application/x-www-form-urlencoded': { schema: z.object({ csrf_token: z.string() }) } },
      },
    },
    responses: {
      303: {
        description: 'Signed out: to /console',
        headers: responseHeaders({
          ...OPEN_HEADERS,
          location: { description: '/console', required: true, schema: { type: 'string' } },
        }),
      },
      ...errorResponses(
        mergeErrors(
          ANY_ROUTE_ERRORS,
          errorsOf('bad_request', 'forbidden', 'payload_too_large', 'unsupported_media_type'),
        ),
      ),
    },
  });
  registry.registerPath({
    method: 'post',
    path: '/console/session',
    tags: ['console'],
    summary: 'Sign in to the console: an API key in, a session cookie out',
    description:
      `The key is checked like any request's (unknown: 401; revoked, disabled, expired: their 401). ${SESSION_COOKIE_NOTE} ` +
      'A form post (no script) is answered 303: to its `next` (a console view) or /console when signed in, back to ' +
      'the sign-in page (`/console?error=missing|rejected|unavailable`) when not.',
    request: {
      body: {
        required: true,
        content: {
          'application/json': { schema: z.object({ key: z.string().min(1).max(512) }).strict() },
          'application/x-www-form-urlencoded': {
            schema: z.object({
              key: z.string(),
              next: z
                .string()
                .optional()
                .meta({ description: 'The console page to go to after: /console/{view}' }),
            }),
          },
        },
      },
    },
    responses: {
      200: {
        ...jsonResponse('Signed in', Session),
        headers: responseHeaders({ ...OPEN_HEADERS, ...SET_COOKIE }),
      },
      303: {
        description:
          'A form post: signed in (with the cookie) to `next` or /console; or refused, back to the form',
        headers: responseHeaders({
          ...OPEN_HEADERS,
          'set-cookie': { ...SET_COOKIE['set-cookie'], required: false },
          location: { description: '/console', required: true, schema: { type: 'string' } },
        }),
      },
      ...errorResponses(
        mergeErrors(
          ANY_ROUTE_ERRORS,
          errorsOf(
            'bad_request',
            'invalid_json',
            'invalid_input',
            'unauthorized',
            'key_expired',
            'key_disabled',
            'key_revoked',
            'payload_too_large',
            'unsupported_media_type',
          ),
        ),
      ),
    },
  });
  registry.registerPath({
    method: 'get',
    path: '/console/session',
    tags: ['console'],
    summary: 'The signed-in session: who, until when, and its CSRF token',
    security: [{ session: [] }],
    responses: {
      200: jsonResponse('The session', Session),
      ...errorResponses(
        mergeErrors(ANY_ROUTE_ERRORS, errorsOf('unauthorized', 'key_expired', 'key_disabled', 'key_revoked')),
      ),
    },
  });
  registry.registerPath({
    method: 'delete',
    path: '/console/session',
    tags: ['console'],
    summary: 'Sign out: the session is deleted (its cookie is worthless at once) and the cookie cleared',
    description:
      'Same origin and `x-csrf-token`, like every state-changing call made with the cookie (403 otherwise).',
    security: [{ session: [] }],
    responses: {
      200: {
        ...jsonResponse('Signed out', z.object({ signed_out: z.literal(true) })),
        headers: responseHeaders({ ...OPEN_HEADERS, ...SET_COOKIE }),
      },
      ...errorResponses(mergeErrors(ANY_ROUTE_ERRORS, errorsOf('forbidden'))),
    },
  });
}
