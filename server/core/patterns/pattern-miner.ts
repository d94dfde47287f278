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
 * The message cache and the shape cache (below) each hold at most 2 x `cacheEntries` messages
 * of at most `cacheMaxLength` characters: with the defaults ~50 bytes per entry plus the
 * message if nothing else holds it, so a few MB for messages of ~100 characters and ~50 MB
 * at most.
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
 * many logs repeat a message seen shortly before. A bounded cache maps an exact message to its
 * pattern, so a repeat costs one Map lookup (~0.15 us). A cached answer stays right: a template
 * only generalises, so the pattern a message joined still covers it; the cache keeps a
 * message with that pattern even if the tree would later find a newer one as good.
 *
 * Most messages that do not repeat differ from one seen before only in their digits (an order
 * number, a duration, an address). Masking decides by the kind of each character, never by
 * which digit it is (masking.ts; `0x` aside, which the shape keeps), so two messages that
 * differ only in digits mask alike wherever digits are masked. A second cache maps a message's
 * digit shape (each digit 1-9 written as 1) to its pattern, for messages whose masked tokens
 * hold no digit at all: a message of the same shape then masks to the very same tokens and
 * joins the same pattern, and costs a regex replace and a lookup instead of masking.
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
  /** Messages the cache holds in each of its two generations (so at most twice this); 0 turns it off. */
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

/** A bounded map in two generations: a lookup in the older one moves the entry forward, so entries in use survive a turnover. */
class TwoGenerationCache<V> {
  private young = new Map<string, V>();
  private old = new Map<string, V>();
  constructor(private readonly entries: number) {}

  get(key: string): V | undefined {
    const hit = this.young.get(key);
    if (hit !== undefined) return hit;
    const aged = this.old.get(key);
    if (aged !== undefined) this.set(key, aged);
    return aged;
  }

  set(key: string, value: V): void {
    if (this.young.size >= this.entries) {
      this.old = this.young;
      this.young = new Map();
    }
    this.young.set(key, value);
  }
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
  /** Exact message to its pattern, every service together; a hit for another service's pattern is a miss. */
  private readonly cache: TwoGenerationCache<Cluster> | undefined;
  /** Digit shape (digitShape) to the pattern, for messages whose masked tokens hold no digit. */
  private readonly shapes: TwoGenerationCache<Cluster> | undefined;
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
    this.cache = this.options.cacheEntries > 0 ? new TwoGenerationCache(this.options.cacheEntries) : undefined;
    this.shapes = this.options.cacheEntries > 0 ? new TwoGenerationCache(this.options.cacheEntries) : undefined;
  }

  /** Mines one log: the id of its pattern, and whether the log started that pattern. */
  add(service: string, message: string): AddResult {
    const cache = message.length <= this.options.cacheMaxLength ? this.cache : undefined;
    // The exact message (a repeat costs one lookup), then its digit shape.
    let cached = cache?.get(message);
    let shape: string | undefined;
    if ((cached === undefined || cached.service !== service) && cache !== undefined) {
      shape = digitShape(message);
      if (shape !== undefined) cached = this.shapes!.get(shape);
    }
    if (cached !== undefined && cached.service === service) {
      cached.count++;
      if (cached.tokens === OTHER_TEMPLATE) this.services.get(service)!.folded++;
      return { id: cached.id, created: false };
    }
    const patterns = this.patternsOf(service);
    const tokens = tokenize(maskMessage(message));
    let cluster = patterns.tree.match(tokens);
    let created = false;
    if (cluster !== undefined) {
      patterns.tree.join(cluster, tokens);
    } else if (patterns.mined < this.options.maxPerService) {
      cluster = this.create(service, tokens);
      patterns.tree.insert(cluster);
      patterns.mined++;
      created = true;
    } else {
      patterns.folded++;
      cluster = patterns.other;
      if (cluster === undefined) {
        cluster = patterns.other = this.create(service, OTHER_TEMPLATE);
        created = true;
      } else cluster.count++;
    }
    cache?.set(message, cluster);
    if (shape !== undefined && cluster.tokens !== OTHER_TEMPLATE && !tokens.some(hasDigit)) this.shapes!.set(shape, cluster);
    return { id: cluster.id, created };
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
   * the patterns they belong to. A service's `<other>` comes back as its `<other>`. Patterns
   * past a lowered cap are kept; the service mines nothing new until it has room again.
   */
  restore(records: Iterable<PatternRecord>): void {
    for (const r of records) {
      if (!Number.isSafeInteger(r.id) || r.id < 1) throw new RangeError(`pattern id ${r.id} is not a positive safe integer`);
      if (this.byId.has(r.id)) throw new Error(`pattern id ${r.id} is restored twice`);
      const patterns = this.patternsOf(r.service);
      const isOther = r.tokens.length === 1 && r.tokens[0] === OTHER_TEMPLATE[0];
      if (isOther && patterns.other !== undefined) throw new Error(`service ${r.service} has two <other> patterns`);
      const c = new Cluster(r.id, r.service, isOther ? OTHER_TEMPLATE : [...r.tokens]);
      c.count = r.count;
      this.byId.set(c.id, c);
      this.saved.set(c, { count: c.count, version: c.version });
      if (isOther) patterns.other = c;
      else {
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
const NONZERO_DIGITS = /[1-9]/g;

function hasDigit(token: string): boolean {
  return DIGIT.test(token);
}

/** The message with each digit 1-9 written as 1 (0 kept: `0x` starts a hex number); undefined when it has no digit 1-9. */
function digitShape(message: string): string | undefined {
  NONZERO_DIGITS.lastIndex = 0;
  if (!NONZERO_DIGITS.test(message)) return undefined;
  return message.replace(NONZERO_DIGITS, '1');
}

function record(c: Cluster): PatternRecord {
  return { id: c.id, service: c.service, tokens: c.tokens, count: c.count };
}
