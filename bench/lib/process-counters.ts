import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { type ChildMessage, nextMessage, tell } from './child.ts';
import { PROBES } from './redis-info.ts';

/**
 * Client commands: what the processes of a run sent to Redis, each command once, an EVAL/EVALSHA
 * being ONE command however many commands its script runs.
 *
 * Why not the server's counters: in Redis 7.0 both `INFO commandstats` and `total_commands_processed`
 * count every command a Lua script runs as a call of its own, with no split by origin (checked on
 * 7.0.15: an EVAL running SET, INCR and GET adds 4 to `total_commands_processed` and one call each
 * to cmdstat_eval, _set, _incr and _get), and 7.0's CLIENT LIST has no per-client command count.
 * MONITOR tells the two apart (`[0 lua]` vs `[0 127.0.0.1:port]`) but slows Redis down a lot.
 *
 * So each process counts on the client side: a wrapper on ioredis `Redis.prototype.sendCommand`
 * (every ioredis command, BullMQ's and xsaga's included, goes through it: plain calls, pipelines,
 * MULTI/EXEC, EVALSHA and the EVAL retried after NOSCRIPT) counts each Command object once, and
 * leaves out the benchmark's probes (the names in {@link PROBES}). The benchmark process reads its own
 * count and asks each worker child for its count over IPC before and after a measured run. Checked
 * against MONITOR's non-`lua` lines over the same window (200 chains, then 200 sagas): 8.77 per raw
 * chain and 27.30 per durable saga both ways.
 */

/** What one process has done so far: read before and after a measured run, and subtracted. */
export interface ProcessCounters {
  /** Commands this process's ioredis clients sent to Redis, probes left out. */
  clientCommands: number;
  /** CPU time of this process (user + system), microseconds. */
  cpuUs: number;
  /** The part of `cpuUs` spent in the kernel (system calls, and the loopback network stack they run). */
  systemUs: number;
  /** Write system calls of this process (`syscw` of /proc/self/io; NaN where there is none). */
  writeCalls: number;
}

const COUNTED = Symbol('bench.counted');
type CountedCommand = { name: string; args: unknown[]; [COUNTED]?: true };
let clientCommands = 0;
let installed = false;

function isProbe(command: CountedCommand): boolean {
  const name = command.name.toLowerCase();
  if (PROBES.has(name)) return true;
  const sub = command.args[0];
  return (typeof sub === 'string' || Buffer.isBuffer(sub)) && PROBES.has(`${name}|${String(sub).toLowerCase()}`);
}

/** Starts counting the client commands of this process (idempotent; before any connection is made). */
export function countClientCommands(): void {
  if (installed) return;
  installed = true;
  const prototype = Redis.prototype as unknown as {
    sendCommand(this: Redis, command: CountedCommand, ...rest: unknown[]): unknown;
  };
  const send = prototype.sendCommand;
  prototype.sendCommand = function (this: Redis, command: CountedCommand, ...rest: unknown[]) {
    // A command passes through here again when the offline queue is flushed or after a reconnect.
    if (command[COUNTED] !== true) {
      command[COUNTED] = true;
      if (!isProbe(command)) clientCommands++;
    }
    return send.call(this, command, ...rest);
  };
}

/** This process's counters now. */
/**
 * Write system calls this process made so far. Each Redis command or pipeline an ioredis client
 * flushes is one `write` on its socket, and on loopback TCP that call also runs the kernel's receive
 * path: a large share of a worker's CPU (see bench/README.md).
 */
function writeSyscalls(): number {
  try {
    const match = /^syscw:\s*(\d+)$/m.exec(readFileSync('/proc/self/io', 'utf8'));
    return match ? Number(match[1]) : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

export function ownCounters(): ProcessCounters {
  const cpu = process.cpuUsage();
  return { clientCommands, cpuUs: cpu.user + cpu.system, systemUs: cpu.system, writeCalls: writeSyscalls() };
}

/** For children: counts client commands and answers `read-counters` with `counters`. */
export function answerCounterRequests(): void {
  countClientCommands();
  process.on('message', (message: ChildMessage) => {
    if (message.type === 'read-counters') tell({ type: 'counters', ...ownCounters() });
  });
}

/** A child's counters (it must call {@link answerCounterRequests}). */
export async function childCounters(child: ChildProcess): Promise<ProcessCounters> {
  const reply = nextMessage<ChildMessage & ProcessCounters>(child, 'counters', 10_000);
  child.send({ type: 'read-counters' });
  const { clientCommands: commands, cpuUs, systemUs, writeCalls } = await reply;
  return { clientCommands: commands, cpuUs, systemUs, writeCalls };
}

/** Counters of this process and of `children`, read at about the same moment. */
export interface RunCounters {
  own: ProcessCounters;
  children: ProcessCounters[];
}

/** Reads {@link RunCounters}. */
export async function readRunCounters(children: readonly ChildProcess[]): Promise<RunCounters> {
  countClientCommands();
  const [own, ...rest] = await Promise.all([ownCounters(), ...children.map(childCounters)]);
  return { own: own as ProcessCounters, children: rest };
}

/** What the processes of a measured run did, per unit of work and per second. */
export interface RunDelta {
  /** Client commands (script calls counted once) of this process and the children, per unit. */
  clientCommandsPerUnit: number;
  /** CPU of this process (the engine, or the raw chain producer) as a share of one core, %. */
  ownCpuPercent: number;
  /** CPU of the children together (the workers) as a share of one core, %. */
  childrenCpuPercent: number;
  /** CPU time of this process per unit, ms: steadier than rates on a shared machine. */
  ownCpuMsPerUnit: number;
  /** CPU time of the children together per unit, ms. */
  childrenCpuMsPerUnit: number;
  /** Kernel CPU time of the children together per unit, ms (part of childrenCpuMsPerUnit). */
  childrenSystemMsPerUnit: number;
  /** Write system calls of this process per unit. */
  ownWritesPerUnit: number;
  /** Write system calls of the children together per unit. */
  childrenWritesPerUnit: number;
}

/** The delta of two {@link RunCounters} over `units` of work done in `elapsedMs`. */
export function runDelta(before: RunCounters, after: RunCounters, units: number, elapsedMs: number): RunDelta {
  const sum = (counters: RunCounters, of: (c: ProcessCounters) => number) =>
    counters.children.reduce((total, c) => total + of(c), 0);
  const commands =
    after.own.clientCommands -
    before.own.clientCommands +
    sum(after, (c) => c.clientCommands) -
    sum(before, (c) => c.clientCommands);
  const percentOfCore = (us: number) => (us / 1000 / elapsedMs) * 100;
  const ownUs = after.own.cpuUs - before.own.cpuUs;
  const childrenUs = sum(after, (c) => c.cpuUs) - sum(before, (c) => c.cpuUs);
  return {
    clientCommandsPerUnit: commands / units,
    ownCpuPercent: percentOfCore(ownUs),
    childrenCpuPercent: percentOfCore(childrenUs),
    ownCpuMsPerUnit: ownUs / 1000 / units,
    childrenCpuMsPerUnit: childrenUs / 1000 / units,
    childrenSystemMsPerUnit: (sum(after, (c) => c.systemUs) - sum(before, (c) => c.systemUs)) / 1000 / units,
    ownWritesPerUnit: (after.own.writeCalls - before.own.writeCalls) / units,
    childrenWritesPerUnit: (sum(after, (c) => c.writeCalls) - sum(before, (c) => c.writeCalls)) / units,
  };
}
