/**
 * The miner's grouping accuracy on the public log-parsing benchmark: the 16 "2k" samples of
 * loghub (https://github.com/logpai/loghub; Zhu et al., "Loghub: A Large Collection of System
 * Log Datasets for AI-driven Log Analytics", ISSRE 2023), each 2,000 lines of a real system
 * with its true event per line. The datasets are not part of this repository (they are free
 * for research use, with conditions of their own); point the script at a copy:
 *
 *   git clone --depth 1 https://github.com/logpai/loghub /tmp/loghub
 *   npm run accuracy:loghub -- /tmp/loghub
 *
 * Each dataset goes through a fresh miner with the server's one configuration (no per-dataset
 * settings or masks), in file order, its `Content` column as the message; the id the miner
 * returns is the predicted group, scored against `EventId` as the benchmarks score it
 * (grouping-accuracy.ts). Beside each figure: Drain's, from the benchmark paper (Zhu et al.,
 * "Tools and Benchmarks for Automated Log Parsing", ICSE-SEIP 2019, Table IV), where Drain was
 * given masks and a threshold tuned for each dataset.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { mineAndScore, type MinedScore } from './grouping-accuracy.js';

/** Drain's grouping accuracy per dataset in the benchmark paper (mean 0.865). */
const DRAIN: Record<string, number> = {
  HDFS: 0.998,
  Hadoop: 0.948,
  Spark: 0.92,
  Zookeeper: 0.967,
  OpenStack: 0.733,
  BGL: 0.963,
  HPC: 0.887,
  Thunderbird: 0.955,
  Windows: 0.997,
  Linux: 0.69,
  Mac: 0.787,
  Android: 0.911,
  HealthApp: 0.78,
  Apache: 1,
  OpenSSH: 0.788,
  Proxifier: 0.527,
};

/** The rows of a CSV text (RFC 4180: quoted fields may hold commas, quotes and newlines). */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c !== '"') field += c;
      else if (text[i + 1] === '"') {
        field += '"';
        i++;
      } else quoted = false;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else if (c !== '\r') field += c;
  }
  if (field !== '' || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

export interface DatasetScore extends MinedScore {
  dataset: string;
}

/** One `<name>_2k.log_structured.csv` file scored. */
export function scoreDataset(dataset: string, csv: string): DatasetScore {
  const [head, ...rows] = parseCsv(csv);
  if (head === undefined) throw new Error(`${dataset}: empty file`);
  const content = head.indexOf('Content');
  const event = head.indexOf('EventId');
  if (content < 0 || event < 0) throw new Error(`${dataset}: no Content or EventId column`);
  const lines = rows.filter((r) => r.length === head.length);
  return { dataset, ...mineAndScore(lines.map((r) => ({ service: dataset, message: r[content]!, truth: r[event]! }))) };
}

function main(): void {
  const root = process.argv[2];
  if (root === undefined || !existsSync(root) || !statSync(root).isDirectory()) {
    console.error('usage: npm run accuracy:loghub -- <a copy of https://github.com/logpai/loghub>');
    process.exit(2);
  }
  const scores: DatasetScore[] = [];
  for (const dataset of readdirSync(root).sort()) {
    const file = join(root, dataset, `${dataset}_2k.log_structured.csv`);
    if (existsSync(file)) scores.push(scoreDataset(dataset, readFileSync(file, 'utf8')));
  }
  if (scores.length === 0) {
    console.error(`no <dataset>/<dataset>_2k.log_structured.csv under ${root}`);
    process.exit(2);
  }
  const pad = (s: string, n: number): string => s.padEnd(n);
  console.log(`${pad('dataset', 12)} ${pad('accuracy', 9)} ${pad('Drain', 6)} ${pad('events', 7)} patterns`);
  for (const s of scores) {
    const drain = DRAIN[s.dataset];
    console.log(`${pad(s.dataset, 12)} ${pad(s.accuracy.toFixed(3), 9)} ${pad(drain === undefined ? '—' : drain.toFixed(3), 6)} ${pad(String(s.events), 7)} ${s.patterns}`);
  }
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  const known = scores.filter((s) => DRAIN[s.dataset] !== undefined);
  console.log(`${pad('mean', 12)} ${pad(mean(scores.map((s) => s.accuracy)).toFixed(3), 9)} ${known.length === 16 ? mean(known.map((s) => DRAIN[s.dataset]!)).toFixed(3) : ''}`);
}

if (process.argv[1] !== undefined && import.meta.filename === process.argv[1]) main();
