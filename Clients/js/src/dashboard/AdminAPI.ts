/** The dashboard's calls to the admin API (docs/api.md), on the page's own origin. */
export class AdminAPIError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export class AdminAPI {
  /** `authorization`: the `Authorization` header for `/api` (`adminAuthorization`; empty: none). */
  constructor(
    private readonly authorization: string,
    private readonly base = "",
  ) {}

  async get<T>(path: string): Promise<T> {
    return (await this.call("GET", path)) as T;
  }

  async post<T>(path: string, body: unknown): Promise<T> {
    return (await this.call("POST", path, body)) as T;
  }

  async delete(path: string): Promise<void> {
    await this.call("DELETE", path);
  }

  /** `/metrics` (no key needed; Prometheus text). */
  async metrics(): Promise<string> {
    const response = await fetch(`${this.base}/metrics`, { cache: "no-store" });
    return response.text();
  }

  private async call(method: string, path: string, body?: unknown): Promise<unknown> {
    const headers: Record<string, string> = {};
    if (this.authorization !== "") headers.Authorization = this.authorization;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(`${this.base}${path}`, {
      method,
      headers,
      cache: "no-store",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    let parsed: unknown = undefined;
    if (text !== "") {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = text;
      }
    }
    if (!response.ok) {
      const error = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
      throw new AdminAPIError(response.status, error?.code ?? "http_" + response.status, error?.message ?? response.statusText);
    }
    return parsed;
  }
}

/**
 * The `Authorization` header for what the operator typed: the API key or an admin token as `Bearer`,
 * or an admin user's name and password as HTTP Basic (static users, docs/security.md).
 */
export function adminAuthorization(login: { credential: string; user?: string; password?: string }): string {
  if (login.user !== undefined && login.user !== "") {
    const bytes = new TextEncoder().encode(`${login.user}:${login.password ?? ""}`);
    let binary = "";
    for (const byte of bytes) binary += String.fromCharCode(byte);
    return `Basic ${btoa(binary)}`;
  }
  return login.credential === "" ? "" : `Bearer ${login.credential}`;
}

/** The user name and password inside a Basic `Authorization` header (what `adminAuthorization` made). */
export function basicCredentials(authorization: string): { user: string; password: string } | undefined {
  if (!authorization.startsWith("Basic ")) return undefined;
  const binary = atob(authorization.slice("Basic ".length));
  const text = new TextDecoder().decode(Uint8Array.from(binary, (c) => c.charCodeAt(0)));
  const colon = text.indexOf(":");
  return colon < 0 ? undefined : { user: text.slice(0, colon), password: text.slice(colon + 1) };
}
