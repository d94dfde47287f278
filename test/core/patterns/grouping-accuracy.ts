import { PatternMiner } from '../../../server/core/patterns/pattern-miner.js';

/**
 * Grouping accuracy as the log-parsing benchmarks define it (Zhu et al., "Tools and Benchmarks
 * for Automated Log Parsing", ICSE-SEIP 2019; logpai/logparser's evaluator): a log is parsed
 * correctly when the set of logs in its predicted group is exactly the set of logs that share
 * its true event. The result is the share of logs parsed correctly.
 */
export function groupingAccuracy(truth: readonly string[], predicted: readonly (string | number)[]): number {
  if (truth.length !== predicted.length) throw new RangeError(`${truth.length} true events for ${predicted.length} predictions`);
  if (truth.length === 0) return 1;
  const eventSize = new Map<string, number>();
  for (const t of truth) eventSize.set(t, (eventSize.get(t) ?? 0) + 1);
  const groups = new Map<string | number, number[]>();
  predicted.forEach((p, i) => {
    const g = groups.get(p);
    if (g === undefined) groups.set(p, [i]);
    else g.push(i);
  });
  let correct = 0;
  for (const members of groups.values()) {
    const event = truth[members[0]!]!;
    if (members.every((i) => truth[i] === event) && eventSize.get(event) === members.length) correct += members.length;
  }
  return correct / truth.length;
}

export interface MinedScore {
  accuracy: number;
  logs: number;
  /** True events, and patterns the miner made. */
  events: number;
  patterns: number;
}

/** `logs` through a fresh miner with the server's configuration, in order; the id each gets is its predicted group, scored against `truth`. */
export function mineAndScore(logs: readonly { service: string; message: string; truth: string }[]): MinedScore {
  const miner = new PatternMiner();
  const predicted = logs.map((l) => miner.idOf(l.service, l.message));
  const truth = logs.map((l) => l.truth);
  return { accuracy: groupingAccuracy(truth, predicted), logs: logs.length, events: new Set(truth).size, patterns: new Set(predicted).size };
}
