// Types of vending.mjs, for TypeScript and for editors reading JSDoc.

/** A failed reply: `code` is one of docs/protocol.md's error codes. */
export class VendingError extends Error {
  constructor(code: string, message: string);
  readonly code: string;
  readonly detail: string;
}

export interface ClientOptions {
  /** Milliseconds to wait for each try's reply (default 2000). */
  timeout?: number;
  /** Tries after the first (default 1). */
  retries?: number;
  /** Bound of the first pause between tries, doubling after (ms, default 200). */
  backoff?: number;
}

/** The longest pause between two tries (ms). */
export const MAX_PAUSE: number;
/** The longest one request takes when nothing answers (ms). */
export function worstCase(options?: ClientOptions): number;

export interface Product {
  product_uid: string;
  seller_uid: string;
  product_name: string;
  cost: number;
  amount: number;
}

export interface AuthReply {
  ok: true;
  token: string;
  wsess_uid: string;
  user_uid: string;
  role: "buyer" | "seller";
  deposit: number;
  active_sessions?: number;
  notice?: string;
}

export interface Purchase {
  ok: true;
  product_uid: string;
  product_name: string;
  amount: number;
  spent: number;
  change: number[];
  deposit: number;
}

/** One stored event: `topic`, `source`, `seq`, `at` (seconds, a float) and its fields. */
export interface VendingEvent {
  topic: string;
  source: "gatekeeper" | "stock-handler";
  seq: number;
  at: number;
  [field: string]: unknown;
}

export interface EventsPage {
  ok: true;
  events: VendingEvent[];
  last_seq: number;
}

export interface ProductPage {
  products: Product[];
  /** More products match past the last one: ask again with `after` = its product_uid. */
  more: boolean;
}

/** A history entry: a buyer's `deposit` / `purchase` / `reset`, a seller's `sale`. */
export interface HistoryEntry {
  id: number;
  kind: "deposit" | "purchase" | "reset" | "sale";
  at: number;
  amount?: number;
  product_uid?: string;
  product_name?: string;
  spent?: number;
  change?: number[];
}

export interface HistoryPage {
  entries: HistoryEntry[];
  /** Older entries follow: ask again with `before` = the last entry's id. */
  more: boolean;
}

export interface PartHealth {
  up: boolean;
  storage: "ok" | "failing";
  last_heard_ms: number;
}

export interface Health {
  ok: true;
  status: "ok" | "degraded";
  parts: Record<"front-door" | "gatekeeper" | "stock-handler", PartHealth>;
  sessions: number;
  in_flight: number;
  last_seq: Record<"gatekeeper" | "stock-handler", number>;
}

export type Reply = { ok: boolean; error?: string; message?: string; req_id?: string } &
  Record<string, unknown>;

export class VendingClient {
  constructor(endpoint?: string, options?: ClientOptions);
  readonly endpoint: string;
  timeout: number;
  retries: number;
  backoff: number;
  session: { wsess_uid: string; token: string } | null;
  userUid?: string;
  /** One request map in, its reply map out (ok or not); retried with the same bytes. */
  request(message: Record<string, unknown>): Promise<Reply>;
  /** `request`, raising VendingError on a failed reply. */
  call(op: string, fields?: Record<string, unknown>): Promise<Reply>;
  register(username: string, password: string, role?: "buyer" | "seller"): Promise<AuthReply>;
  login(username: string, password: string, role?: "buyer" | "seller"): Promise<AuthReply>;
  deposit(amount: number): Promise<number>;
  buy(product_uid: string, amount?: number): Promise<Purchase>;
  sell(product_name: string, cost: number, amount: number): Promise<Product>;
  restock(product_uid: string, amount: number): Promise<Product>;
  product(product_uid: string): Promise<Product>;
  products(): Promise<Product[]>;
  /** One page of products whose names hold `name` (case-insensitive). */
  findProducts(name?: string,
    options?: { after?: string; limit?: number; seller_uid?: string }): Promise<ProductPage>;
  /** Ends the account's other sessions (their count is returned); this one stays. */
  changePassword(password: string, new_password: string): Promise<number>;
  /** The account's own entries, newest first. */
  history(options?: { before?: number; limit?: number }): Promise<HistoryPage>;
  health(): Promise<Health>;
  reset(): Promise<number[]>;
  events(source: string, since?: number, limit?: number): Promise<EventsPage>;
  ping(): Promise<string>;
  logout(): Promise<number>;
  close(): void;
}
