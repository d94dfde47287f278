const TOKEN_KEY = 'logsentinel.token';

export class Unauthorized extends Error {}
export class Unreachable extends Error {}
/** A 4xx answer other than 401: its status and the server's `code` (e.g. PATTERNS_DISABLED). */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

export interface Fetched<T> {
  data: T;
  /** The server's clock from the Date header (epoch ms), so "ago" texts ignore the browser's clock. */
  serverNow: number;
}

export function getToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(token: string): void {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function clearToken(): void {
  sessionStorage.removeItem(TOKEN_KEY);
}

/**
 * `headers` with the session's token, when there is one, and the mark of the page's requests:
 * the server logs them at debug, so its console is not filled with the page's polling.
 */
export function withToken(headers: Headers): Headers {
  headers.set('x-logsentinel-client', 'dashboard');
  const token = getToken();
  if (token !== null) headers.set('authorization', `Bearer ${token}`);
  return headers;
}

/** Fetches JSON with the session's token. 401 is Unauthorized; network errors and 5xx are Unreachable. */
export async function api<T>(path: string, init: RequestInit = {}): Promise<Fetched<T>> {
  const headers = withToken(new Headers(init.headers));
  let res: Response;
  try {
    res = await fetch(path, { ...init, headers, cache: 'no-store' });
  } catch (e) {
    throw new Unreachable(String(e));
  }
  if (res.status === 401) throw new Unauthorized(path);
  if (res.status >= 500) throw new Unreachable(`HTTP ${res.status}`);
  const body = (await res.json()) as T & { error?: string; code?: string };
  if (!res.ok) throw new ApiError(body.error ?? `HTTP ${res.status}`, res.status, body.code);
  const date = Date.parse(res.headers.get('date') ?? '');
  return { data: body, serverNow: Number.isNaN(date) ? Date.now() : date };
}

export function postJson<T>(path: string, body: unknown): Promise<Fetched<T>> {
  return api<T>(path, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
}
