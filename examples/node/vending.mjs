// A small client for the vending front door (docs/protocol.md), with the ZeroMQ
// Guide's Lazy Pirate retries: wait for a reply with a timeout; on timeout close
// the REQ socket (it cannot send again without a reply), open a new one and send
// the same bytes, with the same req_id, so a retry never applies anything twice.
// Between tries a pause drawn from [0, backoff * 2^(n-1)] ms (capped at 2 s),
// as the Python clients do: with the defaults a missing server is reported after
// at most 2 x 2000 + 200 ms. Types: vending.d.ts.
import { randomUUID } from "node:crypto";
import { decode, encode } from "@msgpack/msgpack";
import { Request } from "zeromq";

const STATE_CHANGING = new Set([
  "auth", "deposit", "buy", "sell", "delete_product", "reset",
  "logout", "logout_all", "delete_user", "change_password",
]);

export class VendingError extends Error {
  constructor(code, message) {
    super(`${code}: ${message}`);
    this.code = code;
    this.detail = message;
  }
}

/** The longest pause between two tries, whatever `backoff` and `retries` are (ms). */
export const MAX_PAUSE = 2000;

/** The longest `request` takes when nothing answers (ms): every try and pause. */
export function worstCase({ timeout = 2000, retries = 1, backoff = 200 } = {}) {
  let total = (retries + 1) * timeout;
  for (let n = 1; n <= retries; n++) total += Math.min(MAX_PAUSE, backoff * 2 ** (n - 1));
  return total;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export class VendingClient {
  constructor(endpoint = "tcp://127.0.0.1:5555",
              { timeout = 2000, retries = 1, backoff = 200 } = {}) {
    this.endpoint = endpoint;
    this.timeout = timeout;
    this.retries = retries;
    this.backoff = backoff;
    this.sock = null;
    this.session = null;
  }

  socket() {
    if (this.sock === null) {
      this.sock = new Request({ linger: 0, receiveTimeout: this.timeout });
      this.sock.connect(this.endpoint);
    }
    return this.sock;
  }

  dropSocket() {
    if (this.sock !== null) {
      this.sock.close();
      this.sock = null;
    }
  }

  // One request map in, the reply map out (ok or not); UNAVAILABLE and timeouts
  // are retried with the same bytes.
  async request(message) {
    if (STATE_CHANGING.has(message.op) && message.req_id === undefined) {
      message = { ...message, req_id: randomUUID() };
    }
    const frame = encode(message);
    let reply = null;
    for (let attempt = 0; attempt <= this.retries; attempt++) {
      if (attempt > 0) {
        // Full jitter: clients that timed out together do not retry together.
        await sleep(Math.random() * Math.min(MAX_PAUSE, this.backoff * 2 ** (attempt - 1)));
      }
      const sock = this.socket();
      await sock.send(frame);
      try {
        const [data] = await sock.receive();
        reply = decode(data);
      } catch (err) {
        // zeromq 6 reports a receiveTimeout as a rejected receive() with code EAGAIN.
        if (err.code !== "EAGAIN") throw err;
        this.dropSocket();
        continue;
      }
      if (reply.error !== "UNAVAILABLE") return reply;
    }
    if (reply !== null) return reply;
    throw new VendingError("UNAVAILABLE",
      `no reply from ${this.endpoint} after ${this.retries + 1} tries; is \`vending serve\` running?`);
  }

  async call(op, fields = {}) {
    const reply = await this.request({ op, ...fields });
    if (!reply.ok) throw new VendingError(reply.error, reply.message);
    return reply;
  }

  sessionCall(op, fields = {}) {
    const { wsess_uid, token } = this.session ?? { wsess_uid: "", token: "" };
    return this.call(op, { wsess_uid, token, ...fields });
  }

  async auth(kind, username, password) {
    const reply = await this.call("auth", { token: kind, username, password });
    this.session = { wsess_uid: reply.wsess_uid, token: reply.token };
    this.userUid = reply.user_uid;
    return reply;
  }

  register(username, password, role = "buyer") { return this.auth(`new_${role}`, username, password); }
  login(username, password, role = "buyer") { return this.auth(role, username, password); }
  async deposit(amount) { return (await this.sessionCall("deposit", { amount })).deposit; }
  buy(product_uid, amount = 1) { return this.sessionCall("buy", { product_uid, amount }); }
  async sell(product_name, cost, amount) {
    return (await this.sessionCall("sell", { product_name, cost, amount })).product;
  }
  async restock(product_uid, amount) {
    return (await this.sessionCall("sell", { product_uid, amount })).product;
  }
  async product(product_uid) { return (await this.call("product", { product_uid })).product; }
  async products() { return (await this.call("products")).products; }
  // One page of products whose names hold `name` (case-insensitive): { products, more };
  // the next page: `after` = the last product_uid.
  async findProducts(name, { after, limit = 100, seller_uid } = {}) {
    const fields = { limit };
    for (const [k, v] of Object.entries({ name, after, seller_uid })) if (v !== undefined) fields[k] = v;
    const { products, more } = await this.call("products", fields);
    return { products, more };
  }
  // The other sessions of the account end (their count is returned); this one stays.
  async changePassword(password, new_password) {
    return (await this.sessionCall("change_password", { password, new_password })).ended;
  }
  // The account's own entries, newest first: { entries, more }; the next page:
  // `before` = the last entry's id.
  async history({ before, limit } = {}) {
    const fields = {};
    if (before !== undefined) fields.before = before;
    if (limit !== undefined) fields.limit = limit;
    const { entries, more } = await this.sessionCall("history", fields);
    return { entries, more };
  }
  health() { return this.call("health"); }
  async reset() { return (await this.sessionCall("reset")).change; }
  events(source, since = 0, limit = 100) { return this.call("events", { source, since, limit }); }
  async ping() { return (await this.call("ping")).version; }
  async logout() {
    const reply = await this.sessionCall("logout");
    this.session = null;
    return reply.ended;
  }

  close() { this.dropSocket(); }
}
