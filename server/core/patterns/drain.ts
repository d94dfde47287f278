/**
 * Drain (He et al., "Drain: An Online Log Parsing Approach with Fixed Depth Tree", ICWS 2017),
 * in the form IBM's Drain3 gives it, for the logs of one service. Logs arrive as masked tokens
 * (masking.ts). The tree's first level splits them by token count, the next levels by their
 * first tokens (a token holding a variable goes down the `<*>` branch, so ids and numbers do
 * not fan the tree out), and each leaf holds the clusters whose templates share that prefix.
 * In a leaf, a log joins the cluster whose template has the largest share of tokens equal to
 * its own, if that share reaches the similarity threshold; the template then turns the
 * positions where they differ into `<*>`. Otherwise the log starts a new cluster.
 *
 * Where this departs from Drain3, and why (measured with test/core/patterns/accuracy.test.ts):
 *   - A log that fits a template exactly (each token equal, or under a `<*>`) joins it, whatever
 *     the threshold. In Drain a `<*>` facing a word counts as a difference, so a short template
 *     that generalised a word (or came back from storage, or from other settings, generalised)
 *     would turn away the very logs it describes.
 *   - Two logs that differ in an enumerated word (GET and POST, Paused and Resumed, RUNNING and
 *     FAILED, reason="BackOff" and reason="Scheduled") never join: the log-parsing benchmarks
 *     count them as different events, and a similarity threshold alone cannot tell such a word
 *     from a value in a long line (one word in twenty differs either way).
 *   - When the branch of a log's first token holds no matching cluster, the `<*>` branch is
 *     searched too: a template whose first token generalised (or came back from storage
 *     generalised) lives under `<*>`, and its logs would otherwise start new clusters.
 *
 * Settings (DRAIN_DEFAULTS), one set for every service: depth 4 (route by the first token, as
 * Drain's default; a deeper tree splits an event whenever its second token is an unmasked
 * value), similarity 0.8 (with thorough masking, the tokens left to compare are mostly the
 * event's own words, so one difference in five is the most two logs of an event show; 0.5,
 * Drain's default, merges distinct events), maxChildren 100 (Drain3's default).
 *
 * A cluster's id is given at creation and never changes, while its template may generalise;
 * clusters are never removed, so ids are never reused.
 */

import { WILDCARD } from './masking.js';

export interface DrainOptions {
  /**
   * Depth of the tree as Drain counts it: root, token count, then `depth - 3` levels of first
   * tokens, then the leaves. 4 routes by the first token, as Drain's default does.
   */
  depth: number;
  /** Share of a template's tokens a log must have equal to join its cluster. */
  similarity: number;
  /** Children of a tree node before further tokens share its `<*>` child. */
  maxChildren: number;
}

export const DRAIN_DEFAULTS: Readonly<DrainOptions> = { depth: 4, similarity: 0.8, maxChildren: 100 };

/** One pattern: the logs of one event, as far as the tree can tell. */
export class Cluster {
  /** Logs counted in this cluster. */
  count = 0;
  /** Bumped each time the template generalises, so a writer can tell what changed since it last saved. */
  version = 0;
  constructor(
    readonly id: number,
    readonly service: string,
    /** The template, one entry per token; `<*>` where logs of the cluster differ. Replaced, never mutated, when it generalises. */
    public tokens: readonly string[],
  ) {}

  get template(): string {
    return this.tokens.join(' ');
  }
}

/** A node of the prefix tree: children by token, or the clusters of a leaf. */
interface TreeNode {
  children: Map<string, TreeNode>;
  clusters: Cluster[];
}

function node(): TreeNode {
  return { children: new Map(), clusters: [] };
}

/** A token that holds a variable: it goes down the `<*>` branch rather than a branch of its own. */
function isVariable(token: string): boolean {
  return token.includes(WILDCARD) || /\d/.test(token);
}

/** A capitalised or upper-case word (with underscores), alone or as the value of `key=`, quotes and brackets aside. */
const ENUMERATED = /^\W*[A-Z][A-Za-z_]{2,}\W*$/;

/**
 * Whether a token reads as a word from a fixed vocabulary (GET, RUNNING, Paused, BackOff,
 * reason="Scheduled") rather than a value. Two logs that differ in such a word are taken to be
 * two events, however alike the rest: states, methods, kinds and component names are written
 * this way, while the values that vary within one event (users, hosts, files) seldom are.
 */
function isEnumerated(token: string): boolean {
  const eq = token.indexOf('=');
  return ENUMERATED.test(eq < 0 ? token : token.slice(eq + 1));
}

/**
 * How many positions of `tokens` equal those of `template` (same length), as in Drain's
 * similarity (a `<*>` of the template facing a constant counts as a difference, so a template
 * that has generalised most of its positions stops attracting logs); -1 once more than
 * `maxDifferences` positions differ, since the caller has no use for a worse match.
 */
function sameTokens(template: readonly string[], tokens: readonly string[], maxDifferences: number): number {
  let differences = 0;
  for (let i = 0; i < template.length; i++) {
    if (template[i] !== tokens[i] && ++differences > maxDifferences) return -1;
  }
  return template.length - differences;
}

/** Whether every token of `tokens` equals that of `template` or stands under one of its `<*>`. */
function fits(template: readonly string[], tokens: readonly string[]): boolean {
  for (let i = 0; i < template.length; i++) {
    const t = template[i]!;
    if (t !== tokens[i] && t !== WILDCARD) return false;
  }
  return true;
}

/** Whether `tokens` differs from `template` in an enumerated word. */
function differInEnumeratedWord(template: readonly string[], tokens: readonly string[]): boolean {
  for (let i = 0; i < template.length; i++) {
    const t = template[i]!;
    const m = tokens[i]!;
    if (t !== m && t !== WILDCARD && isEnumerated(t) && isEnumerated(m)) return true;
  }
  return false;
}

/** The template generalised to cover `tokens` as well, or the same array when it already does. */
function generalise(template: readonly string[], tokens: readonly string[]): readonly string[] {
  let out: string[] | undefined;
  for (let i = 0; i < template.length; i++) {
    const t = template[i]!;
    if (t !== tokens[i] && t !== WILDCARD) {
      out ??= template.slice();
      out[i] = WILDCARD;
    }
  }
  return out ?? template;
}

/** The Drain tree of one service. */
export class DrainTree {
  /** First level: token count. */
  private readonly byLength = new Map<number, TreeNode>();
  private readonly prefixTokens: number;

  constructor(private readonly options: DrainOptions = DRAIN_DEFAULTS) {
    if (!(options.depth >= 3)) throw new RangeError(`depth must be at least 3 (got ${options.depth})`);
    if (!(options.maxChildren >= 2)) throw new RangeError(`maxChildren must be at least 2 (got ${options.maxChildren})`);
    this.prefixTokens = options.depth - 3;
  }

  /** The cluster `tokens` belongs to, or undefined when it starts a new one. */
  match(tokens: readonly string[]): Cluster | undefined {
    const top = this.byLength.get(tokens.length);
    if (top === undefined) return undefined;
    return this.search(top, tokens, 0);
  }

  private search(at: TreeNode, tokens: readonly string[], level: number): Cluster | undefined {
    if (level >= this.prefixTokens || level >= tokens.length - 1) return this.bestIn(at.clusters, tokens);
    const token = tokens[level]!;
    if (!isVariable(token)) {
      const child = at.children.get(token);
      if (child !== undefined) {
        const found = this.search(child, tokens, level + 1);
        if (found !== undefined) return found;
      }
    }
    const wild = at.children.get(WILDCARD);
    return wild === undefined ? undefined : this.search(wild, tokens, level + 1);
  }

  /**
   * The cluster of the leaf whose template `tokens` fits exactly (equal, or under a `<*>`), or
   * else shares the most tokens with `tokens` if it shares enough.
   */
  private bestIn(clusters: readonly Cluster[], tokens: readonly string[]): Cluster | undefined {
    const needed = Math.ceil(this.options.similarity * tokens.length - 1e-9);
    let best: Cluster | undefined;
    let bestSame = needed - 1;
    for (const c of clusters) {
      if (fits(c.tokens, tokens)) return c;
      const same = sameTokens(c.tokens, tokens, tokens.length - bestSame - 1);
      if (same > bestSame && !differInEnumeratedWord(c.tokens, tokens)) {
        best = c;
        bestSame = same;
      }
    }
    return best;
  }

  /** Adds `tokens` to `cluster` (which `match` returned): counts it and generalises the template. Whether the template changed. */
  join(cluster: Cluster, tokens: readonly string[]): boolean {
    cluster.count++;
    const next = generalise(cluster.tokens, tokens);
    if (next === cluster.tokens) return false;
    cluster.tokens = next;
    cluster.version++;
    return true;
  }

  /** Places a new cluster (its template as it is now) in the tree. */
  insert(cluster: Cluster): void {
    const tokens = cluster.tokens;
    let at = this.byLength.get(tokens.length);
    if (at === undefined) this.byLength.set(tokens.length, (at = node()));
    const depth = Math.min(this.prefixTokens, tokens.length - 1);
    for (let level = 0; level < depth; level++) at = this.child(at, tokens[level]!);
    at.clusters.push(cluster);
  }

  /** The child for `token`, made if there is room; the `<*>` child for a variable or once the node is full (one place kept for it). */
  private child(at: TreeNode, token: string): TreeNode {
    const children = at.children;
    if (!isVariable(token)) {
      const existing = children.get(token);
      if (existing !== undefined) return existing;
      const room = this.options.maxChildren - (children.has(WILDCARD) ? 0 : 1);
      if (children.size < room) {
        const made = node();
        children.set(token, made);
        return made;
      }
    }
    let wild = children.get(WILDCARD);
    if (wild === undefined) children.set(WILDCARD, (wild = node()));
    return wild;
  }
}
