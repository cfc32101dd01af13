// Every event of each source once, in order: live from a SUB socket, what the
// socket dropped or missed fetched with the `events` op (docs/protocol.md,
// "Events"). The stored backlog comes first, both sources merged by `at`.
//
//   const events = await new EventSubscriber("tcp://127.0.0.1:5556").start();
//   for await (const event of events) console.log(event.source, event.seq, event.topic);
//
// Types: events.d.ts.
import { decode } from "@msgpack/msgpack";
import { Subscriber } from "zeromq";
import { VendingClient } from "./vending.mjs";

export const SOURCES = ["gatekeeper", "stock-handler"];
const PAGE = 1000;

export class EventSubscriber {
  constructor(eventsEndpoints, frontDoor = "tcp://127.0.0.1:5555",
              { since = {}, liveOnly = false, pollInterval = 1000, client = {} } = {}) {
    this.endpoints = Array.isArray(eventsEndpoints) ? eventsEndpoints : [eventsEndpoints];
    this.client = new VendingClient(frontDoor, client);
    /** The last seq handed out, per source. */
    this.last = Object.fromEntries(SOURCES.map((s) => [s, since[s] ?? 0]));
    this.liveOnly = liveOnly;
    this.pollInterval = pollInterval;
    this.queue = [];
    this.sub = null;
    this.closed = false;
    /** Events that came by the `events` op instead of live. */
    this.filled = 0;
  }

  // Subscribe, then fetch what is stored after `since` (or only note where each
  // source is, with liveOnly). Subscribing first means nothing falls in between.
  async start() {
    this.sub = new Subscriber({ linger: 0, receiveTimeout: this.pollInterval });
    this.sub.subscribe();
    for (const endpoint of this.endpoints) this.sub.connect(endpoint);
    if (this.liveOnly) {
      for (const source of SOURCES) {
        const { last_seq } = await this.client.events(source, 0, 1);
        this.last[source] = Math.max(this.last[source], last_seq);
      }
    }
    const backlog = [];
    for (const source of SOURCES) backlog.push(...(await this.fetch(source)));
    backlog.sort((a, b) => a.at - b.at); // stable: each source stays in seq order
    for (const event of backlog) this.take(event);
    return this;
  }

  // Stored events of `source` after last[source], up to `upto`.
  async fetch(source, upto = Infinity) {
    const got = [];
    let since = this.last[source];
    while (since < upto) {
      const limit = Math.min(PAGE, upto - since);
      const reply = await this.client.events(source, since, limit);
      for (const item of reply.events) got.push(item);
      if (reply.events.length > 0) since = reply.events.at(-1).seq;
      if (reply.events.length < limit) {
        // Nothing stored past here, yet last_seq is further: those expired.
        if (reply.events.length === 0 && reply.last_seq > since) {
          this.last[source] = Math.min(upto, reply.last_seq);
        }
        break;
      }
    }
    return got;
  }

  take(event) {
    if (event.seq <= this.last[event.source]) return;
    this.last[event.source] = event.seq;
    this.queue.push(event);
  }

  async fill(source, upto = Infinity) {
    const before = this.queue.length;
    for (const event of await this.fetch(source, upto)) this.take(event);
    this.filled += this.queue.length - before;
  }

  async live([topic, data]) {
    let body;
    try { body = decode(data); } catch { return; }
    const { source, seq } = body ?? {};
    if (!(source in this.last) || !Number.isInteger(seq) || seq <= this.last[source]) return;
    if (seq > this.last[source] + 1) await this.fill(source, seq - 1); // a gap: fetch it
    if (seq === this.last[source] + 1) this.take({ topic: topic.toString(), ...body });
  }

  /** The next event; resolves { done: true } once closed. */
  async next() {
    while (!this.closed) {
      if (this.queue.length > 0) return { value: this.queue.shift(), done: false };
      let frames;
      try {
        frames = await this.sub.receive();
      } catch (err) {
        if (this.closed) break;
        if (err.code !== "EAGAIN") throw err;
        // Quiet for pollInterval: the newest events may be the ones dropped; ask.
        // A front door that does not answer now is asked again next time.
        for (const source of SOURCES) {
          try { await this.fill(source); } catch (e) { if (e.code !== "UNAVAILABLE") throw e; }
        }
        continue;
      }
      await this.live(frames);
    }
    return { value: undefined, done: true };
  }

  [Symbol.asyncIterator]() { return this; }

  async return() { this.close(); return { value: undefined, done: true }; }

  close() {
    this.closed = true;
    if (this.sub !== null) this.sub.close();
    this.client.close();
  }
}
