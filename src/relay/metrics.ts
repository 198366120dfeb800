/**
 * Prometheus metrics of one relay, in a registry of its own (never the
 * global one, so several relays in one process, as in tests, do not clash).
 * Gauges are sampled from the room table when scraped, so they cannot drift.
 */
import { Counter, Gauge, Registry } from 'prom-client';

/** Point-in-time counts sampled into the gauges. */
export interface RelayGaugeSample {
  roomsWaiting: number;
  roomsPaired: number;
  connections: number;
}

/** The relay's metric set. */
export class RelayMetrics {
  /** Registry holding only this relay's metrics; serve it with `registry.metrics()`. */
  readonly registry = new Registry();
  /** Bytes spliced between paired clients, both directions. */
  readonly bytesForwarded: Counter;
  /** Join frames accepted (the client got `waiting` or `paired`). */
  readonly joins: Counter;
  /** Connections refused, by relay error code. */
  readonly joinsRejected: Counter<'reason'>;

  constructor(sample: () => RelayGaugeSample) {
    const registers = [this.registry];
    new Gauge({
      name: 'ferry_relay_rooms_waiting',
      help: 'Rooms with one client waiting for its peer',
      registers,
      collect() {
        this.set(sample().roomsWaiting);
      },
    });
    new Gauge({
      name: 'ferry_relay_rooms_paired',
      help: 'Rooms whose two clients are being spliced',
      registers,
      collect() {
        this.set(sample().roomsPaired);
      },
    });
    new Gauge({
      name: 'ferry_relay_connections',
      help: 'Open client connections',
      registers,
      collect() {
        this.set(sample().connections);
      },
    });
    this.bytesForwarded = new Counter({
      name: 'ferry_relay_bytes_forwarded_total',
      help: 'Bytes forwarded between paired clients',
      registers,
    });
    this.joins = new Counter({
      name: 'ferry_relay_joins_total',
      help: 'Accepted joins',
      registers,
    });
    this.joinsRejected = new Counter({
      name: 'ferry_relay_joins_rejected_total',
      help: 'Refused connections by reason',
      labelNames: ['reason'],
      registers,
    });
  }
}
