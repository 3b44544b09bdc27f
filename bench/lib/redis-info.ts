import type { Redis } from 'ioredis';

/** Calls per command from `INFO commandstats` (commands run inside Lua scripts and MULTI count too). */
export type CommandCounts = Map<string, number>;

/** A snapshot of the server counters the benchmark reports deltas of. */
export interface ServerCounters {
  commands: CommandCounts;
  /** Redis CPU time (user + sys), ms. */
  cpuMs: number;
  /** Bytes Redis received from clients (`total_net_input_bytes`). */
  netInputBytes: number;
  /** Size of the append-only file (`aof_current_size`); 0 with AOF off. */
  aofBytes: number;
}

/** Reads `INFO commandstats`, `INFO cpu`, `INFO stats` and `INFO persistence`. */
export async function readCounters(redis: Redis): Promise<ServerCounters> {
  const [stats, cpu, general, persistence] = await Promise.all([
    redis.info('commandstats'),
    redis.info('cpu'),
    redis.info('stats'),
    redis.info('persistence'),
  ]);
  const commands: CommandCounts = new Map();
  for (const match of stats.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    commands.set(match[1] as string, Number(match[2]));
  }
  const field = (info: string, name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0);
  return {
    commands,
    cpuMs: (field(cpu, 'used_cpu_user') + field(cpu, 'used_cpu_sys')) * 1000,
    netInputBytes: field(general, 'total_net_input_bytes'),
    aofBytes: field(persistence, 'aof_current_size'),
  };
}

/** What changed between two counter snapshots, per unit of work (e.g. per saga). */
export interface CounterDelta {
  /** Every command executed, including those inside Lua scripts and MULTI (the INFO/bench probes excluded). */
  commandsPerUnit: number;
  /** EVAL/EVALSHA calls: one round trip each, however many commands run inside. */
  scriptsPerUnit: number;
  /** Redis server CPU per unit, ms. */
  cpuMsPerUnit: number;
  /** Bytes sent to Redis per unit. */
  netInputBytesPerUnit: number;
  /** Bytes appended to the AOF per unit (0 with AOF off; meaningless if a rewrite ran in between). */
  aofBytesPerUnit: number;
  /** The most frequent commands, per unit. */
  top: Array<{ command: string; perUnit: number }>;
}

/** Commands of the benchmark's own probes, left out of every count. */
export const PROBES: ReadonlySet<string> = new Set([
  'info',
  'ping',
  'scan',
  'memory',
  'zcard',
  'select',
  'client|setname',
  'client|setinfo',
]);

/** The delta of two snapshots divided by `units`. */
export function counterDelta(before: ServerCounters, after: ServerCounters, units: number, topN = 12): CounterDelta {
  const deltas: Array<{ command: string; calls: number }> = [];
  for (const [command, calls] of after.commands) {
    const diff = calls - (before.commands.get(command) ?? 0);
    if (diff > 0 && !PROBES.has(command)) deltas.push({ command, calls: diff });
  }
  deltas.sort((a, b) => b.calls - a.calls);
  const total = deltas.reduce((sum, d) => sum + d.calls, 0);
  const scripts = deltas
    .filter((d) => d.command === 'evalsha' || d.command === 'eval')
    .reduce((sum, d) => sum + d.calls, 0);
  return {
    commandsPerUnit: total / units,
    scriptsPerUnit: scripts / units,
    cpuMsPerUnit: (after.cpuMs - before.cpuMs) / units,
    netInputBytesPerUnit: (after.netInputBytes - before.netInputBytes) / units,
    aofBytesPerUnit: (after.aofBytes - before.aofBytes) / units,
    top: deltas.slice(0, topN).map((d) => ({ command: d.command, perUnit: d.calls / units })),
  };
}

/** `used_memory` in bytes (`INFO memory`). */
export async function usedMemory(redis: Redis): Promise<number> {
  const info = await redis.info('memory');
  return Number(/^used_memory:(\d+)/m.exec(info)?.[1] ?? Number.NaN);
}
