import type { FetchLike } from "./SSETransport";
import { SwitchboardError } from "./SwitchboardError";

/** A record as the records API answers it and change events carry it (docs/records.md). */
export interface SwitchboardRecord {
  id: string;
  collectionId: string;
  collectionName: string;
  created: string;
  updated: string;
  version: number;
  [field: string]: unknown;
}

/** A change event on `collections/<c>/<id>`. */
export interface RecordChange {
  action: "create" | "update" | "delete";
  record: SwitchboardRecord;
  changed_by?: string;
}

/** One page of `GET /api/collections/{c}/records`. */
export interface RecordList {
  page: number;
  perPage: number;
  totalItems: number;
  totalPages: number;
  items: SwitchboardRecord[];
}

/**
 * The records REST API (docs/records.md), for the live-record hooks. The `/api` routes send no CORS
 * headers yet, so the page must be on the server's origin (or behind a proxy that adds them).
 */
export class RecordsClient {
  constructor(
    private readonly httpUrl: string,
    private readonly fetchImpl: FetchLike,
    private readonly token: () => string | undefined,
  ) {}

  async getRecord(collection: string, id: string): Promise<SwitchboardRecord> {
    return (await this.call("GET", `/api/collections/${encodeURIComponent(collection)}/records/${encodeURIComponent(id)}`)) as SwitchboardRecord;
  }

  async listRecords(collection: string, options: { page?: number; perPage?: number; sort?: string; filter?: string } = {}): Promise<RecordList> {
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(options)) if (value !== undefined) query.set(key, String(value));
    const suffix = query.toString() === "" ? "" : `?${query}`;
    return (await this.call("GET", `/api/collections/${encodeURIComponent(collection)}/records${suffix}`)) as RecordList;
  }

  private async call(method: string, path: string): Promise<unknown> {
    const headers: Record<string, string> = {};
    const token = this.token();
    if (token !== undefined) headers.Authorization = `Bearer ${token}`;
    const response = await this.fetchImpl(`${this.httpUrl}${path}`, { method, headers });
    const text = await response.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    if (!response.ok) {
      const error = ((body as { error?: { code?: string; message?: string }; message?: string } | undefined) ?? {});
      throw new SwitchboardError(error.error?.code ?? (response.status === 404 ? "not_found" : "unavailable"), error.error?.message ?? error.message ?? `HTTP ${response.status}`);
    }
    return body;
  }
}

/** Applies one change to a record: the newer version wins, so a fetch and an event may race. */
export function applyRecordChange(current: SwitchboardRecord | null | undefined, change: RecordChange): SwitchboardRecord | null | undefined {
  if (current !== undefined && current !== null && change.record.version < current.version) return current;
  return change.action === "delete" ? null : change.record;
}

/** Applies one change to a list of records (by id; created ones are appended). */
export function applyCollectionChange(items: SwitchboardRecord[], change: RecordChange): SwitchboardRecord[] {
  const index = items.findIndex((item) => item.id === change.record.id);
  if (index < 0) return change.action === "delete" ? items : [...items, change.record];
  if (change.record.version < items[index].version && change.action !== "delete") return items;
  if (change.action === "delete") return items.filter((_, i) => i !== index);
  const next = items.slice();
  next[index] = change.record;
  return next;
}
