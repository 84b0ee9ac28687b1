// The one door to the API. It holds the access token in a module variable (never in
// localStorage, sessionStorage or a cookie), refreshes it through the httpOnly refresh cookie
// shortly before it expires and once on a 401 (one refresh in flight at a time), and sends
// the CSRF token from the readable `__Host-majlis_csrf` cookie on every state-changing call.

const CSRF_COOKIE = "__Host-majlis_csrf";
const MUTATING = new Set(["POST", "PUT", "PATCH", "DELETE"]);
// Renew a minute before expiry, or a quarter of the lifetime for short-lived tokens (a
// 60-second token renews after 45 seconds, not every few seconds).
const REFRESH_AHEAD_MS = 60_000;
const MIN_REFRESH_DELAY_MS = 5_000;
// A refresh the server could not answer (503 without Redis, 429, a 5xx) ends nothing: the
// tab keeps its token and tries again after this long.
const REFRESH_RETRY_MS = 10_000;

let accessToken: string | null = null;
let refreshTimer: number | undefined;
let refreshing: Promise<boolean> | null = null;
export type SignedOutReason = "ended" | "logout";
// Other tabs of this browser share the cookies: a sign-out in one ends the others.
const tabs = typeof BroadcastChannel === "undefined" ? null : new BroadcastChannel("majlis-session");
const signedOutListeners = new Set<(reason: SignedOutReason) => void>();

export interface Problem {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  errors?: { field: string; message: string }[];
  [extra: string]: unknown;
}

export class ApiError extends Error {
  readonly status: number;
  readonly problem: Problem;
  readonly retryAfterSeconds: number | null;

  constructor(status: number, problem: Problem, retryAfter: string | null) {
    super(problem.title ?? `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
    const seconds = retryAfter === null ? NaN : Number.parseInt(retryAfter, 10);
    this.retryAfterSeconds = Number.isFinite(seconds) ? seconds : null;
  }

  /** The stable part of the problem type: "account-locked", "conversation-changed", ... */
  get slug(): string {
    const type = this.problem.type ?? "";
    return type.slice(type.lastIndexOf("/") + 1);
  }
}

export function csrfToken(): string {
  for (const part of document.cookie.split(";")) {
    const [name, ...rest] = part.trim().split("=");
    if (name === CSRF_COOKIE) return decodeURIComponent(rest.join("="));
  }
  return "";
}

export function currentToken(): string | null {
  return accessToken;
}

export function onSignedOut(listener: (reason: SignedOutReason) => void): () => void {
  signedOutListeners.add(listener);
  return () => signedOutListeners.delete(listener);
}

function forget(reason: SignedOutReason | null, fromOtherTab = false): void {
  accessToken = null;
  window.clearTimeout(refreshTimer);
  if (reason === null) return;
  if (!fromOtherTab) tabs?.postMessage(reason);
  signedOutListeners.forEach((listener) => listener(reason));
}

tabs?.addEventListener("message", (event: MessageEvent<SignedOutReason>) => {
  if (accessToken !== null) forget(event.data, true);
});

const tokenListeners = new Set<(token: string) => void>();

/** Hear of every renewed token (the live stream re-authenticates with it). */
export function onToken(listener: (token: string) => void): () => void {
  tokenListeners.add(listener);
  return () => tokenListeners.delete(listener);
}

/** Keep a freshly issued token and plan its silent renewal. */
export function acceptToken(token: string, expiresInSeconds: number): void {
  accessToken = token;
  tokenListeners.forEach((listener) => listener(token));
  const lifetime = expiresInSeconds * 1000;
  const ahead = Math.min(REFRESH_AHEAD_MS, lifetime / 4);
  planRefresh(Math.max(MIN_REFRESH_DELAY_MS, lifetime - ahead));
}

function planRefresh(delay: number): void {
  window.clearTimeout(refreshTimer);
  refreshTimer = window.setTimeout(() => void refreshSession(), delay);
}

async function problemOf(response: Response): Promise<Problem> {
  try {
    return (await response.json()) as Problem;
  } catch {
    return { title: response.statusText, status: response.status };
  }
}

async function doRefresh(): Promise<boolean> {
  // The CSRF cookie is set beside the (unreadable) refresh cookie: without it, no session.
  if (csrfToken() === "") {
    forget(accessToken !== null ? "ended" : null);
    return false;
  }
  let response: Response;
  try {
    response = await fetch("/api/v1/auth/refresh", {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrfToken() },
    });
  } catch {
    // Offline: keep what we have and try again soon (the next call tries too).
    if (accessToken !== null) planRefresh(REFRESH_RETRY_MS);
    return false;
  }
  if (response.ok) {
    const body = (await response.json()) as { access_token: string; expires_in: number };
    acceptToken(body.access_token, body.expires_in);
    return true;
  }
  if (response.status !== 401 && response.status !== 403) {
    // The server could not answer now (503, 429, 5xx): that is no verdict on the session.
    if (accessToken !== null) planRefresh(REFRESH_RETRY_MS);
    return false;
  }
  // Expired, signed out elsewhere, or a reused refresh token (the server then revoked the
  // whole sign-in family): in every case this tab is signed out too, and so are the other
  // tabs, which share the dead cookie — even when this tab had no token yet (a reload).
  if (accessToken !== null) forget("ended");
  else tabs?.postMessage("ended");
  return false;
}

/** Renew the access token from the refresh cookie; concurrent callers share one request. */
export function refreshSession(): Promise<boolean> {
  if (refreshing === null) {
    refreshing = doRefresh().finally(() => {
      refreshing = null;
    });
  }
  return refreshing;
}

export interface RequestOptions {
  method?: string;
  json?: unknown;
  body?: BodyInit;
  contentType?: string;
  query?: Record<string, string | number | boolean | undefined | null>;
  headers?: Record<string, string>;
  raw?: boolean;
}

function urlOf(path: string, query: RequestOptions["query"]): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value !== undefined && value !== null && value !== "") params.set(key, String(value));
  }
  const search = params.toString();
  return search ? `${path}?${search}` : path;
}

async function send(
  path: string,
  options: RequestOptions,
  token: string | null,
): Promise<Response> {
  const method = (options.method ?? "GET").toUpperCase();
  const headers: Record<string, string> = { Accept: "application/json", ...options.headers };
  if (token !== null) headers.Authorization = `Bearer ${token}`;
  if (MUTATING.has(method)) headers["X-CSRF-Token"] = csrfToken();
  let body = options.body;
  if (options.json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(options.json);
  } else if (options.contentType) {
    headers["Content-Type"] = options.contentType;
  }
  return fetch(urlOf(path, options.query), {
    method,
    headers,
    body,
    credentials: "same-origin",
  });
}

/** Call the API; answers the parsed JSON (or the Response with `raw`), throws ApiError. */
export async function api<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const sentWith = accessToken;
  let response = await send(path, options, sentWith);
  if (response.status === 401 && sentWith !== null && !path.startsWith("/api/v1/auth/")) {
    // One retry. A token renewed while this call was under way (by the timer or another
    // call's 401) is simply used; otherwise one refresh, shared by every call that needs it.
    // No token any more means the session ended meanwhile (another call's refresh was
    // refused): nothing to refresh, the page is already signing out.
    const renewed = accessToken !== null && accessToken !== sentWith;
    const ended = accessToken === null;
    if (!ended && (renewed || (await refreshSession()))) {
      response = await send(path, options, accessToken);
    }
  }
  if (!response.ok) {
    throw new ApiError(
      response.status,
      await problemOf(response),
      response.headers.get("Retry-After"),
    );
  }
  if (options.raw) return response as unknown as T;
  if (response.status === 204) return undefined as T;
  return (await response.json()) as T;
}

interface TokenAnswer {
  access_token: string;
  expires_in: number;
}

/** Sign in. With two-factor sign-in on, a right password is answered with the problem
 * "two-factor-required" and its `two_factor_token`: finish with signInWithCode. */
export async function signIn(email: string, password: string): Promise<void> {
  const answer = await api<TokenAnswer>("/api/v1/auth/login", {
    method: "POST",
    json: { email, password },
  });
  acceptToken(answer.access_token, answer.expires_in);
}

/** The second step: a code from the authenticator app, or a recovery code. */
export async function signInWithCode(twoFactorToken: string, code: string): Promise<void> {
  const answer = await api<TokenAnswer>("/api/v1/auth/login/two-factor", {
    method: "POST",
    json: { two_factor_token: twoFactorToken, code },
  });
  acceptToken(answer.access_token, answer.expires_in);
}

export interface TwoFactorSetup {
  secret: string;
  otpauth_uri: string;
  qr_code: string;
  expires_in: number;
}

export function startTwoFactorSetup(password: string): Promise<TwoFactorSetup> {
  return api<TwoFactorSetup>("/api/v1/auth/two-factor/setup", { method: "POST", json: { password } });
}

/** Turns two-factor sign-in on: other sessions end, this one gets new tokens. */
export async function enableTwoFactor(code: string): Promise<string[]> {
  const answer = await api<TokenAnswer & { recovery_codes: string[] }>("/api/v1/auth/two-factor/enable", {
    method: "POST",
    json: { code },
  });
  acceptToken(answer.access_token, answer.expires_in);
  return answer.recovery_codes;
}

export async function disableTwoFactor(password: string, code: string): Promise<void> {
  const answer = await api<TokenAnswer>("/api/v1/auth/two-factor/disable", {
    method: "POST",
    json: { password, code },
  });
  acceptToken(answer.access_token, answer.expires_in);
}

export async function replaceRecoveryCodes(password: string, code: string): Promise<string[]> {
  const answer = await api<{ recovery_codes: string[] }>("/api/v1/auth/two-factor/recovery-codes", {
    method: "POST",
    json: { password, code },
  });
  return answer.recovery_codes;
}

export async function changePassword(current: string, next: string): Promise<void> {
  const answer = await api<TokenAnswer>("/api/v1/auth/password", {
    method: "POST",
    json: { current_password: current, new_password: next },
  });
  acceptToken(answer.access_token, answer.expires_in);
}

export async function signOut(): Promise<void> {
  try {
    if (accessToken !== null) await api("/api/v1/auth/logout", { method: "POST" });
  } finally {
    forget("logout");
  }
}
