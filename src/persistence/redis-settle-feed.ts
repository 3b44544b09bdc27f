import type { Redis } from 'ioredis';
import { StoreError } from '../errors.ts';
import type { OutageReporter } from '../observability/outage-reporter.ts';
import { watchConnection } from './redis-connection.ts';
import type { SettleListener } from './saga-store.ts';

/**
 * The settle notifications of one RedisStore (what its `onSettled` hands out): one subscriber
 * connection, a `duplicate()` of the store's, opened by the first listener and shared by every
 * later one, on the prefix's settle channel (see `RedisKeys.settled`; the save script publishes).
 */
export class RedisSettleFeed {
  readonly #redis: Redis;
  /** The settle channel (`RedisKeys.settled`). */
  readonly #channel: string;
  readonly #outage: OutageReporter;
  /** Told of settled sagas by the one subscriber connection (`RedisStore.onSettled`). */
  readonly #listeners = new Set<SettleListener>();
  /** The subscription of the settle channel, made by the first `onSettled`. */
  #feed: Promise<void> | undefined;
  #subscriber: Redis | undefined;
  #closed = false;

  constructor(redis: Redis, channel: string, outage: OutageReporter) {
    this.#redis = redis;
    this.#channel = channel;
    this.#outage = outage;
  }

  /**
   * Adds `listener`, subscribing first if no listener has yet; resolves with the function that
   * removes it. Rejects (and drops the listener; the next call tries again) if the channel cannot
   * be subscribed.
   */
  async add(listener: SettleListener): Promise<() => Promise<void>> {
    this.#listeners.add(listener);
    try {
      this.#feed ??= this.#subscribe();
      await this.#feed;
    } catch (error) {
      this.#listeners.delete(listener);
      throw error;
    }
    return async () => {
      this.#listeners.delete(listener);
    };
  }

  /** Drops every listener and ends the subscriber connection. */
  close(): void {
    this.#closed = true;
    this.#listeners.clear();
    this.#subscriber?.disconnect();
  }

  /** Opens the subscriber connection and subscribes; on failure, drops it so that the next call retries. */
  async #subscribe(): Promise<void> {
    const channel = this.#channel;
    // Subscribing again after a reconnect is done here, not by ioredis, so that the listeners re-read
    // once the channel is subscribed again, not before (a save in between would be missed).
    const subscriber = this.#redis.duplicate({ autoResubscribe: false });
    this.#subscriber = subscriber;
    // ioredis reconnects by itself; each outage is reported once (an unhandled `error` would print
    // every failed attempt).
    watchConnection(subscriber, this.#outage);
    subscriber.on('message', (from: string, sagaId: string) => {
      if (from !== channel) return;
      for (const listener of [...this.#listeners]) listener.settled(sagaId);
    });
    let subscribed = false;
    subscriber.on('ready', () => {
      if (!subscribed) return;
      subscriber.subscribe(channel).then(
        () => {
          for (const listener of [...this.#listeners]) listener.resync();
        },
        (error: unknown) => {
          // A connection lost again is followed by another 'ready'; a refusal (NOPERM) is not.
          if (this.#closed || subscriber.status !== 'ready') return;
          for (const listener of [...this.#listeners]) listener.resync(error);
        },
      );
    });
    try {
      await subscriber.subscribe(channel);
      subscribed = true;
    } catch (error) {
      this.#feed = undefined;
      this.#subscriber = undefined;
      subscriber.disconnect();
      if (!(error instanceof Error && error.message.startsWith('NOPERM'))) throw error;
      throw new StoreError(
        `the Redis user may not SUBSCRIBE to channel "${channel}", where saves announce settled sagas to engine.waitFor: ACL SETUSER <user> &<prefix>:* +publish +subscribe (see "Tenants and Redis ACLs" in the README)`,
        { cause: error },
      );
    }
  }
}
