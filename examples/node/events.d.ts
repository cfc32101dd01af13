// Types of events.mjs.
import type { ClientOptions, VendingEvent } from "./vending.mjs";

export const SOURCES: readonly ["gatekeeper", "stock-handler"];

export interface SubscriberOptions {
  /** The last seq already seen, per source (default 0: everything still stored). */
  since?: Partial<Record<"gatekeeper" | "stock-handler", number>>;
  /** Start after each source's newest event instead (default false). */
  liveOnly?: boolean;
  /** Quiet this long (ms), ask the front door for what the socket may have dropped. */
  pollInterval?: number;
  /** Options of the client that calls the `events` op. */
  client?: ClientOptions;
}

export class EventSubscriber implements AsyncIterableIterator<VendingEvent> {
  constructor(eventsEndpoints: string | string[], frontDoor?: string,
              options?: SubscriberOptions);
  readonly last: Record<"gatekeeper" | "stock-handler", number>;
  readonly filled: number;
  start(): Promise<this>;
  next(): Promise<IteratorResult<VendingEvent>>;
  return(): Promise<IteratorResult<VendingEvent>>;
  [Symbol.asyncIterator](): this;
  close(): void;
}
