/**
 * The machine and CPU pinning: children under test (server, bare route, JSON.parse loop) run
 * on CPU 0, this process (the load generator) on CPU 1, where `taskset` exists and the machine
 * has two or more CPUs. Elsewhere everything runs unpinned and the table says so.
 */
import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';

export const PROJECT_ROOT = fileURLToPath(new URL('../..', import.meta.url));

const TASKSET = ['/usr/bin/taskset', '/bin/taskset'].find((p) => existsSync(p));
const CAN_PIN = TASKSET !== undefined && cpus().length >= 2;

export const SERVER_CPU = 0;
export const LOAD_CPU = 1;

function allowedCpus(): string | undefined {
  try {
    return /Cpus_allowed_list:\s*(\S+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
  } catch {
    return undefined;
  }
}

let selfPinned = false;

/** Pins every thread of this process to LOAD_CPU; true when that worked. */
export function pinSelf(): boolean {
  if (!CAN_PIN) return false;
  try {
    execFileSync(TASKSET!, ['-a', '-c', '-p', String(LOAD_CPU), String(process.pid)], { stdio: 'ignore' });
    selfPinned = allowedCpus() === String(LOAD_CPU);
  } catch {
    selfPinned = false;
  }
  return selfPinned;
}

/** Whether children are pinned to SERVER_CPU and this process to LOAD_CPU. */
export function pinning(): { server: boolean; self: boolean } {
  return { server: CAN_PIN, self: selfPinned };
}

/** Spawns `command args` pinned to SERVER_CPU when pinning is possible (taskset execs, so the pid is the program's). */
export function spawnPinned(command: string, args: readonly string[], options: SpawnOptions): ChildProcess {
  if (!CAN_PIN) return spawn(command, args, options);
  return spawn(TASKSET!, ['-c', String(SERVER_CPU), command, ...args], options);
}

export interface MachineInfo {
  cpu: string;
  cores: number;
  memoryGB: number;
  node: string;
  platform: string;
  pinning: string;
}

export function machineInfo(): MachineInfo {
  const list = cpus();
  let model = list[0]?.model.trim() ?? 'unknown';
  try {
    model = /model name\s*:\s*(.+)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? model;
  } catch {
    // not Linux: os.cpus() has it
  }
  return {
    cpu: model,
    cores: list.length,
    memoryGB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    pinning: CAN_PIN
      ? `taskset: server and baselines on CPU ${SERVER_CPU}, load generator on CPU ${selfPinned ? LOAD_CPU : `${allowedCpus() ?? '?'} (pinning itself failed)`}`
      : 'none (no taskset or a single CPU): server, baselines and load generator share the CPUs',
  };
}
