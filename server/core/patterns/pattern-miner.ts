/**
 * Message patterns per service, mined online from every accepted log: masking (masking.ts),
 * then one Drain tree per service (drain.ts). Each log gets the id of its pattern; the id never
 * changes while the pattern's template generalises.
 *
 * Bounded: at most `maxPerService` mined patterns per service; past that, a log that would
 * start a new one is counted in the service's `<other>` pattern instead (`folded` counts them).
 * Memory per pattern (measured as V8 heap growth after GC, token strings included): ~450 bytes
 * for a 6-token template, ~600 for 12 tokens, ~1,100 for 24 (~300 bytes plus ~30 per token:
 * the cluster, its token array and strings, its map entries and its place in a tree leaf). So
 * 1,000 patterns of a service take ~0.6 MB, and the whole miner at most services x
 * `maxPerService` times that; the number of services is bounded where logs are admitted.
 * The message cache (below) has two tables of 32,768 slots (the power of two at or above
 * `cacheEntries`): ~1 MB, plus up to 32,768 messages of at most `cacheMaxLength` characters
 * the exact table holds (a few MB for messages of ~100 characters, ~17 MB at most).
 *
 * Ids. `allocateId` chooses them, so that replicas can agree:
 *   - a store-assigned id: the replica asks the store for the id of (service, first template),
 *     inserting it if new (an upsert on a unique key), so replicas that mine an event from the
 *     same first shape share its id; an IdBlocks-style reserved range gives unique ids without a
 *     round trip per pattern but no agreement;
 *   - a hash of service and first template (`hashedIds`), with no round trip: equal first shapes
 *     get equal ids everywhere; an id already held here is retried with the next `attempt`.
 * Either way, two replicas that first meet an event through different variants mine two
 * patterns for it (a later step can map one id onto the other), and each replica generalises
 * its copy of a shared template on its own: a store keeping one template per id merges them
 * position by position (a `<*>` wherever either has one).
 * The default (`sequentialIds`) numbers patterns 1, 2, 3... in one process.
 *
 * Speed: masking and the tree search cost a few microseconds a log (more for long lines), while
 * most logs repeat a message seen shortly before, or differ from one only in their digits (an
 * order number, a duration, an address). Masking decides by the kind of each character, never
 * by which digit it is (masking.ts; `0x` aside, which the shape keeps), so two messages that
 * differ only in digits mask alike wherever digits are masked. So a cache (MessageCache) maps
 * a message's digit shape (each digit 1-9 read as 1) to its pattern, for messages whose masked
 * tokens hold no digit at all (a message of the same shape then masks to the very same tokens
 * and joins the same pattern), and the exact message to its pattern for the others. A hit
 * costs one pass over the message (~0.2 us for a 30-character message, against ~1.4 us to
 * mine it). A cached answer stays right: a template only generalises, so
 * the pattern a message joined still covers it; the cache keeps a message with that pattern
 * even if the tree would later find a newer one as good.
 */

import { Cluster, DRAIN_DEFAULTS, DrainTree, type DrainOptions } from './drain.js';
import { maskMessage, tokenize } from './masking.js';

/**
 * Chooses the id of a new pattern from its service and first template: a positive safe
 * integer. `attempt` is 0, then 1, 2... while the id returned is already held by another pattern.
 */
export type IdAllocator = (service: string, template: readonly string[], attempt: number) => number;

/** The template of a service's overflow pattern. */
export const OTHER_TEMPLATE: readonly string[] = ['<other>'];

export interface PatternMinerOptions {
  /** Mined patterns per service (`patterns.max_per_service`); the service's `<other>` pattern comes on top. */
  maxPerService: number;
  drain: DrainOptions;
  allocateId: IdAllocator;
  /** Slots in each of the cache's two tables (rounded up to a power of two, at least 1,024); 0 turns it off. */
  cacheEntries: number;
  /** Longer messages are not cached: they seldom repeat and would hold much memory. */
  cacheMaxLength: number;
}

export const PATTERN_DEFAULTS = { maxPerService: 1000, cacheEntries: 20_000, cacheMaxLength: 512 } as const;

/** A pattern as it is listed, persisted and restored. */
export interface PatternRecord {
  id: number;
  service: string;
  /** Template tokens, `<*>` for a variable; `['<other>']` for the overflow pattern. */
  tokens: readonly string[];
  /** Logs counted in it. */
  count: number;
}

export interface AddResult {
  /** The id the log gets; it never changes. */
  id: number;
  /** Whether this log started the pattern. */
  created: boolean;
}

/** Ids 1, 2, 3... in one process; `next` is the id the next pattern gets. */
export interface SequentialIds extends IdAllocator {
  next: number;
}

export function sequentialIds(start = 1): SequentialIds {
  const allocate = (() => allocate.next++) as unknown as SequentialIds;
  allocate.next = start;
  return allocate;
}

/**
 * Ids from a hash of service, template and attempt: positive integers below 2^52, equal on
 * every replica for equal input, with nothing to coordinate. With a few hundred thousand
 * patterns held the chance of any collision is ~1e-5, and a collision is retried.
 */
export function hashedIds(): IdAllocator {
  return (service, template, attempt) => {
    const text = `${service}\u0000${template.join(' ')}\u0000${attempt}`;
    // Two 32-bit FNV-1a variants with different offsets: 20 + 32 bits.
    let a = 0x811c9dc5;
    let b = 0x050c5d1f;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      a = Math.imul(a ^ c, 0x01000193);
      b = Math.imul(b ^ c, 0x01000193) ^ (b >>> 13);
    }
    return ((a >>> 0) & 0xfffff) * 0x100000000 + (b >>> 0) || 1;
  };
}

/**
 * The message cache: two direct-mapped tables of a power-of-two size, one by exact message and
 * one by digit shape (each digit 1-9 read as 1), probed with no string made. The exact table
 * keeps the message a slot was filled with and a hit must equal it. The shape table keeps,
 * instead of the message, its length and two independent 32-bit hashes of its shape (one pass
 * computes both), and a hit must match all three: comparing the message with a kept one cost
 * as much again as hashing it. So a wrong answer takes a 64-bit collision of two shapes of one
 * length within one service (the service is checked too): for random messages, about once in
 * 2^64 lookups; a sender who crafted one would only give its own message another pattern of
 * its own service, which it could do by sending that pattern's message. A new entry replaces
 * whatever held its slot.
 */
class MessageCache {
  private readonly mask: number;
  private readonly exactKeys: (string | undefined)[];
  private readonly exactPatterns: (Cluster | undefined)[];
  private readonly shapeFirst: Int32Array;
  private readonly shapeSecond: Int32Array;
  private readonly shapeLength: Int32Array;
  private readonly shapePatterns: (Cluster | undefined)[];
  /** The slots of the message `get` last looked up (and missed), its hashes, and whether it holds a digit 1-9: `set` fills them. */
  private exactSlot = 0;
  private shapeSlot = 0;
  private first = 0;
  private second = 0;
  private hasDigits = false;

  constructor(entries: number) {
    let size = 1024;
    while (size < entries) size *= 2;
    this.mask = size - 1;
    this.exactKeys = new Array<string | undefined>(size).fill(undefined);
    this.exactPatterns = new Array<Cluster | undefined>(size).fill(undefined);
    this.shapeFirst = new Int32Array(size);
    this.shapeSecond = new Int32Array(size);
    // -1: empty (no message has that length).
    this.shapeLength = new Int32Array(size).fill(-1);
    this.shapePatterns = new Array<Cluster | undefined>(size).fill(undefined);
  }

  /** The pattern of `service` cached for a message of `message`'s digit shape, or else for `message` itself. */
  get(service: string, message: string): Cluster | undefined {
    // Two hashes of the message with each digit 1-9 read as 1 (a message with none is its own
    // shape): FNV-1a, and a multiplicative hash with other constants.
    let first = 0x811c9dc5;
    let second = 0x2545f491;
    let digits = false;
    for (let i = 0; i < message.length; i++) {
      let c = message.charCodeAt(i);
      if (c >= 0x31 && c <= 0x39) {
        digits = true;
        c = 0x31;
      }
      first = Math.imul(first ^ c, 0x01000193);
      second = Math.imul(second + c, 0x5bd1e995) ^ (second >>> 15);
    }
    this.hasDigits = digits;
    this.first = first;
    this.second = second;
    let exact = first;
    if (digits) {
      const slot = (this.shapeSlot = slotOf(first, this.mask));
      if (this.shapeFirst[slot] === first && this.shapeSecond[slot] === second && this.shapeLength[slot] === message.length) {
        const pattern = this.shapePatterns[slot]!;
        if (pattern.service === service) return pattern;
      }
      exact = 0x811c9dc5;
      for (let i = 0; i < message.length; i++) exact = Math.imul(exact ^ message.charCodeAt(i), 0x01000193);
    }
    const slot = (this.exactSlot = slotOf(exact, this.mask));
    if (this.exactKeys[slot] !== message) return undefined;
    const pattern = this.exactPatterns[slot]!;
    return pattern.service === service ? pattern : undefined;
  }

  /**
   * Caches `pattern` for the message `get` last looked up; with `byShape`, for every message of
   * its digit shape too (when it has a digit 1-9).
   */
  set(message: string, pattern: Cluster, byShape: boolean): void {
    this.exactKeys[this.exactSlot] = message;
    this.exactPatterns[this.exactSlot] = pattern;
    if (byShape && this.hasDigits) {
      const slot = this.shapeSlot;
      this.shapeFirst[slot] = this.first;
      this.shapeSecond[slot] = this.second;
      this.shapeLength[slot] = message.length;
      this.shapePatterns[slot] = pattern;
    }
  }
}

function slotOf(hash: number, mask: number): number {
  return (hash ^ (hash >>> 15)) & mask;
}

class ServicePatterns {
  /** Mined patterns, `<other>` aside. */
  mined = 0;
  other: Cluster | undefined;
  /** Logs counted in `<other>` because the service had `maxPerService` patterns. */
  folded = 0;
  constructor(readonly tree: DrainTree) {}
}

export class PatternMiner {
  private readonly services = new Map<string, ServicePatterns>();
  private readonly byId = new Map<number, Cluster>();
  private readonly options: PatternMinerOptions;
  /** The default allocator, moved past restored ids; undefined when the caller chose one. */
  private readonly sequential: SequentialIds | undefined;
  /** Message (or digit shape) to its pattern, every service together; a hit for another service's pattern is a miss. */
  private readonly cache: MessageCache | undefined;
  /** Whether the log `idOf` last mined started its pattern. */
  private created = false;
  /** Count and template version of each pattern when `takeChanges` last returned it. */
  private readonly saved = new Map<Cluster, { count: number; version: number }>();

  constructor(options: Partial<PatternMinerOptions> = {}) {
    const sequential = options.allocateId === undefined ? sequentialIds() : undefined;
    this.sequential = sequential;
    this.options = {
      maxPerService: options.maxPerService ?? PATTERN_DEFAULTS.maxPerService,
      drain: options.drain ?? DRAIN_DEFAULTS,
      allocateId: options.allocateId ?? sequential!,
      cacheEntries: options.cacheEntries ?? PATTERN_DEFAULTS.cacheEntries,
      cacheMaxLength: options.cacheMaxLength ?? PATTERN_DEFAULTS.cacheMaxLength,
    };
    if (!(this.options.maxPerService >= 1)) throw new RangeError(`maxPerService must be at least 1 (got ${this.options.maxPerService})`);
    // Fail at start-up on bad Drain settings rather than at the first log.
    new DrainTree(this.options.drain);
    this.cache = this.options.cacheEntries > 0 ? new MessageCache(this.options.cacheEntries) : undefined;
  }

  /** Mines one log: the id of its pattern, and whether the log started that pattern. */
  add(service: string, message: string): AddResult {
    const id = this.idOf(service, message);
    return { id, created: this.created };
  }

  /** Mines one log: the id of its pattern (what ingest asks; `add` also says whether the log started it). */
  idOf(service: string, message: string): number {
    const cache = message.length <= this.options.cacheMaxLength ? this.cache : undefined;
    // A message of the same digit shape, or the exact message: a repeat costs one pass over it.
    const cached = cache?.get(service, message);
    this.created = false;
    if (cached !== undefined) {
      cached.count++;
      if (cached.tokens === OTHER_TEMPLATE) this.services.get(service)!.folded++;
      return cached.id;
    }
    const patterns = this.patternsOf(service);
    const tokens = tokenize(maskMessage(message));
    let cluster = patterns.tree.match(tokens);
    if (cluster !== undefined) {
      patterns.tree.join(cluster, tokens);
    } else if (patterns.mined < this.options.maxPerService) {
      cluster = this.create(service, tokens);
      patterns.tree.insert(cluster);
      patterns.mined++;
      this.created = true;
    } else {
      patterns.folded++;
      cluster = patterns.other;
      if (cluster === undefined) {
        cluster = patterns.other = this.create(service, OTHER_TEMPLATE);
        this.created = true;
      } else cluster.count++;
    }
    cache?.set(message, cluster, cluster.tokens !== OTHER_TEMPLATE && !tokens.some(hasDigit));
    return cluster.id;
  }

  /** The template of pattern `id`, tokens joined by spaces; undefined for an id not held. */
  template(id: number): string | undefined {
    return this.byId.get(id)?.template;
  }

  /** Pattern `id`'s service and template (tokens joined by spaces); undefined for an id not held. */
  describe(id: number): { service: string; template: string } | undefined {
    const c = this.byId.get(id);
    return c === undefined ? undefined : { service: c.service, template: c.template };
  }

  /** Whether pattern `id` is held. */
  has(id: number): boolean {
    return this.byId.has(id);
  }

  /** Pattern `id`; undefined for an id not held. */
  pattern(id: number): PatternRecord | undefined {
    const c = this.byId.get(id);
    return c === undefined ? undefined : record(c);
  }

  /** Every pattern, or those of one service, oldest first. */
  patterns(service?: string): PatternRecord[] {
    const out: PatternRecord[] = [];
    for (const c of this.byId.values()) if (service === undefined || c.service === service) out.push(record(c));
    return out;
  }

  /** Logs of `service` counted in its `<other>` pattern because it had `maxPerService` patterns. */
  folded(service: string): number {
    return this.services.get(service)?.folded ?? 0;
  }

  /**
   * Patterns created, generalised or counted since the last call (all of them at the first):
   * what a writer persists. It walks every pattern, so mining pays nothing for it.
   */
  takeChanges(): PatternRecord[] {
    const out: PatternRecord[] = [];
    for (const c of this.byId.values()) {
      const s = this.saved.get(c);
      if (s === undefined) this.saved.set(c, { count: c.count, version: c.version });
      else if (s.count !== c.count || s.version !== c.version) {
        s.count = c.count;
        s.version = c.version;
      } else continue;
      out.push(record(c));
    }
    return out;
  }

  /**
   * Loads persisted patterns, before the first `add`: ids survive a restart, and new logs join
   * the patterns they belong to. A service's `<other>` comes back as its `<other>` (a second
   * one, from another replica, is held by id: listed and described, never folded into). Patterns
   * past a lowered cap are kept; the service mines nothing new until it has room again.
   */
  restore(records: Iterable<PatternRecord>): void {
    for (const r of records) {
      if (!Number.isSafeInteger(r.id) || r.id < 1) throw new RangeError(`pattern id ${r.id} is not a positive safe integer`);
      if (this.byId.has(r.id)) throw new Error(`pattern id ${r.id} is restored twice`);
      const patterns = this.patternsOf(r.service);
      const isOther = r.tokens.length === 1 && r.tokens[0] === OTHER_TEMPLATE[0];
      const c = new Cluster(r.id, r.service, isOther ? OTHER_TEMPLATE : [...r.tokens]);
      c.count = r.count;
      this.byId.set(c.id, c);
      this.saved.set(c, { count: c.count, version: c.version });
      if (isOther) {
        // A second one (another replica's, whose hashed id had to move past a collision) is held by id only.
        patterns.other ??= c;
      } else {
        patterns.tree.insert(c);
        patterns.mined++;
      }
      if (this.sequential !== undefined && r.id >= this.sequential.next) this.sequential.next = r.id + 1;
    }
  }

  private patternsOf(service: string): ServicePatterns {
    let p = this.services.get(service);
    if (p === undefined) this.services.set(service, (p = new ServicePatterns(new DrainTree(this.options.drain))));
    return p;
  }

  /** A new pattern holding its first log. */
  private create(service: string, tokens: readonly string[]): Cluster {
    for (let attempt = 0; attempt < 16; attempt++) {
      const id = this.options.allocateId(service, tokens, attempt);
      if (!Number.isSafeInteger(id) || id < 1) throw new RangeError(`the pattern id allocator returned ${id}, not a positive safe integer`);
      if (this.byId.has(id)) continue;
      const c = new Cluster(id, service, tokens);
      c.count = 1;
      this.byId.set(id, c);
      return c;
    }
    throw new Error(`the pattern id allocator gave ids already held 16 times for service ${service}`);
  }
}

const DIGIT = /\d/;

function hasDigit(token: string): boolean {
  return DIGIT.test(token);
}

function record(c: Cluster): PatternRecord {
  return { id: c.id, service: c.service, tokens: c.tokens, count: c.count };
}
