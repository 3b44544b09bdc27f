import type { Host } from './saga-hosts-types.ts';

/**
 * The sagas a process keeps hydrated, at most `maxActive` of them: beyond it the least recently
 * used are evicted (their actors stopped), except those with an event being applied. Evicting
 * loses nothing: the store holds every saga, and the next event hydrates it again.
 */
export class HostCache {
  readonly #maxActive: number;
  /** Hydrated actors in least-recently-used order (Map keeps insertion order). */
  readonly #hosts = new Map<string, Host>();
  /** Sagas with an event being applied: never evicted mid-event. */
  readonly #busy = new Set<string>();

  constructor(maxActive: number) {
    this.#maxActive = maxActive;
  }

  /** Whether the saga is hosted. */
  has(sagaId: string): boolean {
    return this.#hosts.has(sagaId);
  }

  /** The hosted saga, now the most recently used; undefined when it is not hosted. */
  use(sagaId: string): Host | undefined {
    const cached = this.#hosts.get(sagaId);
    if (cached) {
      this.#hosts.delete(sagaId);
      this.#hosts.set(sagaId, cached);
    }
    return cached;
  }

  /** Hosts a saga as the most recently used, evicting the least recently used beyond the cap. */
  add(sagaId: string, host: Host): void {
    this.#hosts.set(sagaId, host);
    this.#trim();
  }

  /** Marks a saga as having an event applied: it is not evicted until {@link HostCache.idle}. */
  busy(sagaId: string): void {
    this.#busy.add(sagaId);
  }

  /** The saga's event is applied: it may be evicted again. */
  idle(sagaId: string): void {
    this.#busy.delete(sagaId);
  }

  /** Stops the saga's actor and forgets it; nothing when it is not hosted. */
  evict(sagaId: string): void {
    const host = this.#hosts.get(sagaId);
    if (!host) return;
    this.#hosts.delete(sagaId);
    host.actor.stop();
  }

  /** Stops every hosted actor and forgets them all. */
  clear(): void {
    for (const host of this.#hosts.values()) host.actor.stop();
    this.#hosts.clear();
  }

  #trim(): void {
    // Oldest first, straight off the map: a Map iterator survives deleting the entry it is on, and
    // copying every key (10 000 at the default cap) on each new saga made a full engine's starts O(cap).
    for (const sagaId of this.#hosts.keys()) {
      if (this.#hosts.size <= this.#maxActive) return;
      if (!this.#busy.has(sagaId)) this.evict(sagaId);
    }
  }
}
