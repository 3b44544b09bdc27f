import { type BenchContext, warmupOf } from '../lib/context.ts';
import type { Ratio, Row, Scenario, ScenarioReport } from '../lib/report.ts';
import { pairedRatios, ratioOfMedians } from '../lib/stats.ts';
import { type DurableResult, durableTrial } from './durable.ts';
import { type RawChainResult, rawBullmqTrial } from './raw-bullmq.ts';

const STEPS = 4;

/** A counter of the worker processes (`children...`: per job or step) or of this one (per chain or saga). */
type ProcessField =
  | 'childrenCpuMsPerUnit'
  | 'childrenSystemMsPerUnit'
  | 'childrenWritesPerUnit'
  | 'ownCpuMsPerUnit'
  | 'ownWritesPerUnit';

function processRow(
  metric: string,
  unit: string,
  runs: ReadonlyArray<RawChainResult | DurableResult>,
  field: ProcessField,
): Row {
  const per = field.startsWith('children') ? STEPS : 1;
  return { metric, unit, values: runs.map((r) => r.processes[field] / per) };
}
const IN_FLIGHT = 50;
/** Worker concurrency in both: enough for every in-flight chain or saga to have its job running. */
const CONCURRENCY = 50;

/**
 * Scenarios 1-3: raw BullMQ chains (the floor) and xsaga durable sagas, run alternately in the same
 * rounds against the same Redis, and the ratio of their medians (sagas/s over chains/s).
 */
export const durableVsRaw: Scenario = {
  id: 'durable-vs-raw',
  title: '1-3. Raw BullMQ chain vs xsaga durable (4 no-op steps, 50 in flight)',
  async run(ctx: BenchContext): Promise<ScenarioReport> {
    const n = ctx.quick ? 400 : 2000;
    const warmup = warmupOf(ctx);
    const raw: RawChainResult[] = [];
    const durable: DurableResult[] = [];
    for (let round = 1; round <= ctx.rounds; round++) {
      ctx.log(`round ${round}/${ctx.rounds}: raw BullMQ, ${n} chains`);
      raw.push(
        await rawBullmqTrial(ctx, { chains: n, warmup, inFlight: IN_FLIGHT, concurrency: CONCURRENCY, length: STEPS }),
      );
      ctx.log(`round ${round}/${ctx.rounds}: xsaga durable, ${n} sagas`);
      durable.push(await durableTrial(ctx, { sagas: n, warmup, inFlight: IN_FLIGHT, concurrency: CONCURRENCY }));
    }
    // Client commands: a script call counts once, the commands it runs do not (lib/process-counters.ts).
    const perStep = (runs: Array<RawChainResult | DurableResult>) =>
      runs.map((r) => r.processes.clientCommandsPerUnit / STEPS);
    const rows: Row[] = [
      { metric: 'raw BullMQ jobs/s', unit: 'jobs/s', values: raw.map((r) => r.jobsPerSec) },
      { metric: 'raw BullMQ chains/s', unit: 'chains/s', values: raw.map((r) => r.chainsPerSec) },
      { metric: 'raw BullMQ chain latency p50', unit: 'ms', values: raw.map((r) => r.p50Ms) },
      { metric: 'raw BullMQ chain latency p99', unit: 'ms', values: raw.map((r) => r.p99Ms) },
      { metric: 'raw BullMQ Redis commands/chain', unit: 'cmds', values: raw.map((r) => r.redis.commandsPerUnit) },
      { metric: 'raw BullMQ Lua script calls/chain', unit: 'calls', values: raw.map((r) => r.redis.scriptsPerUnit) },
      { metric: 'raw BullMQ Redis CPU/chain', unit: 'ms', values: raw.map((r) => r.redis.cpuMsPerUnit) },
      {
        metric: 'raw BullMQ bytes sent to Redis/chain',
        unit: 'bytes',
        values: raw.map((r) => r.redis.netInputBytesPerUnit),
      },
      { metric: 'durable sagas/s', unit: 'sagas/s', values: durable.map((r) => r.sagasPerSec) },
      { metric: 'durable saga latency p50', unit: 'ms', values: durable.map((r) => r.p50Ms) },
      { metric: 'durable saga latency p99', unit: 'ms', values: durable.map((r) => r.p99Ms) },
      { metric: 'durable Redis commands/saga', unit: 'cmds', values: durable.map((r) => r.redis.commandsPerUnit) },
      { metric: 'durable Lua script calls/saga', unit: 'calls', values: durable.map((r) => r.redis.scriptsPerUnit) },
      { metric: 'durable Redis CPU/saga', unit: 'ms', values: durable.map((r) => r.redis.cpuMsPerUnit) },
      {
        metric: 'durable bytes sent to Redis/saga',
        unit: 'bytes',
        values: durable.map((r) => r.redis.netInputBytesPerUnit),
      },
      { metric: 'raw BullMQ client commands/job', unit: 'cmds', values: perStep(raw) },
      { metric: 'durable client commands/step', unit: 'cmds', values: perStep(durable) },
      // CPU time per unit of work: what bounds the rates on 2 shared cores, and steadier than they are.
      processRow('raw BullMQ worker CPU/job', 'ms', raw, 'childrenCpuMsPerUnit'),
      processRow('raw BullMQ producer CPU/chain', 'ms', raw, 'ownCpuMsPerUnit'),
      processRow('durable worker CPU/step', 'ms', durable, 'childrenCpuMsPerUnit'),
      processRow('raw BullMQ worker kernel CPU/job', 'ms', raw, 'childrenSystemMsPerUnit'),
      processRow('durable worker kernel CPU/step', 'ms', durable, 'childrenSystemMsPerUnit'),
      processRow('durable engine CPU/saga', 'ms', durable, 'ownCpuMsPerUnit'),
      // Write system calls: one per command (or pipeline) a client flushes.
      processRow('raw BullMQ worker writes/job', 'calls', raw, 'childrenWritesPerUnit'),
      processRow('raw BullMQ producer writes/chain', 'calls', raw, 'ownWritesPerUnit'),
      processRow('durable worker writes/step', 'calls', durable, 'childrenWritesPerUnit'),
      processRow('durable engine writes/saga', 'calls', durable, 'ownWritesPerUnit'),
    ];
    const sagasPerSec = durable.map((r) => r.sagasPerSec);
    const chainsPerSec = raw.map((r) => r.chainsPerSec);
    const ratios: Ratio[] = [
      {
        name: 'durable/raw-bullmq',
        value: ratioOfMedians(sagasPerSec, chainsPerSec),
        perRound: pairedRatios(sagasPerSec, chainsPerSec),
        target: { op: '>=', value: 0.5 },
      },
      {
        name: 'redis-commands durable/raw-bullmq',
        value: ratioOfMedians(
          durable.map((r) => r.redis.commandsPerUnit),
          raw.map((r) => r.redis.commandsPerUnit),
        ),
        perRound: pairedRatios(
          durable.map((r) => r.redis.commandsPerUnit),
          raw.map((r) => r.redis.commandsPerUnit),
        ),
      },
      {
        name: 'redis-cpu durable/raw-bullmq',
        value: ratioOfMedians(
          durable.map((r) => r.redis.cpuMsPerUnit),
          raw.map((r) => r.redis.cpuMsPerUnit),
        ),
        perRound: pairedRatios(
          durable.map((r) => r.redis.cpuMsPerUnit),
          raw.map((r) => r.redis.cpuMsPerUnit),
        ),
      },
      {
        name: 'redis-commands-per-step durable/raw-bullmq',
        value: ratioOfMedians(perStep(durable), perStep(raw)),
        perRound: pairedRatios(perStep(durable), perStep(raw)),
        target: { op: '<=', value: 2 },
      },
    ];
    const lastDurable = durable[durable.length - 1];
    const lastRaw = raw[raw.length - 1];
    const top = (r: { redis: { top: Array<{ command: string; perUnit: number }> } } | undefined) =>
      (r?.redis.top ?? []).map((t) => `${t.command} ${t.perUnit.toFixed(1)}`).join(', ');
    return {
      id: this.id,
      title: this.title,
      params: { n, warmup, inFlight: IN_FLIGHT, concurrency: CONCURRENCY, steps: STEPS },
      rows,
      ratios,
      notes: [
        'Commands include those run inside Lua scripts and MULTI (INFO commandstats counts both).',
        'Client commands/job and /step: what the ioredis clients of the bench process and the worker sent, an EVALSHA counted once and the commands its script runs not at all (Redis 7.0 has no such counter: see lib/process-counters.ts); a job is one link of a raw chain, a step one of the 4 forward steps of a saga. Target: aim <= 2x.',
        `top commands per chain (raw, last round): ${top(lastRaw)}`,
        `top commands per saga (durable, last round): ${top(lastDurable)}`,
      ],
    };
  },
};
