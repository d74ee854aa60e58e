// A Cloudflare Queue for the Worker tests, delivered by the test on a clock the test controls instead of
// by miniflare's timers (which make deliveries, retries and leases depend on how busy the machine is).
//
// Delivery as Cloudflare documents it (docs: queues/configuration/batching-retries.mdx and
// queues/reference/delivery-guarantees.mdx; ../shared/reference/cloudflare-defaults-and-limits.md §7):
// - at least once: a message is delivered until it is acknowledged, and may be delivered twice;
// - `ack()` / `retry({delaySeconds})` per message, the first call wins; a handler that throws (or an
//   invocation that dies) retries every message it did not acknowledge, after the consumer's retry delay;
// - `delaySeconds` on send or retry makes the message wait that long; `attempts` counts deliveries;
// - after `max_retries` retries (default 3) the message is deleted (no dead-letter queue is declared).
// Where miniflare 4 differs, see the README ("Queues on the local runtime").

/** Messages waiting, ordered by the time they become available (then by the order they were sent). */
export class DrivenQueue {
  constructor({ maxRetries = 3, retryDelaySeconds = 0 } = {}) {
    this.maxRetries = maxRetries;
    this.retryDelaySeconds = retryDelaySeconds;
    this.waiting = [];
    this.dropped = [];
    this.deliveries = 0;
    this.outcomes = []; // every delivery's outcome: {ack, delaySeconds} as the handler decided
    this.sequence = 0;
  }

  send(body, { delaySeconds = 0 } = {}, now) {
    this.sequence += 1;
    this.waiting.push({ id: `msg-${this.sequence}`, body, attempts: 0, availableAt: now + delaySeconds * 1000,
      order: this.sequence });
  }

  /** The next message to deliver, or null when the queue is empty. */
  next() {
    this.waiting.sort((a, b) => a.availableAt - b.availableAt || a.order - b.order);
    return this.waiting.shift() ?? null;
  }

  /** Put a delivered message back: acknowledged messages are done; the others come back after their
   *  delay, unless they have used their retries. `outcomes` are the deliveries of this message (two when
   *  a copy was delivered at the same moment): one acknowledgement is enough. */
  settle(message, outcomes, now) {
    this.deliveries += outcomes.length;
    this.outcomes.push(...outcomes);
    message.attempts += 1;
    if (outcomes.some((o) => o.ack)) return;
    const delaySeconds = Math.max(...outcomes.map((o) => o.delaySeconds ?? this.retryDelaySeconds));
    if (message.attempts > this.maxRetries) {
      this.dropped.push(message);
      return;
    }
    this.sequence += 1;
    this.waiting.push({ ...message, availableAt: now + delaySeconds * 1000, order: this.sequence });
  }

  /** A second delivery of a message that was already delivered (at least once): arrives `afterMs` later. */
  redeliver(message, now, afterMs) {
    this.sequence += 1;
    this.waiting.push({ ...message, copy: true, availableAt: now + afterMs, order: this.sequence });
  }
}
