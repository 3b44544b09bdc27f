import { cpus } from 'node:os';
import { type BenchContext, warmupOf } from '../lib/context.ts';
import type { Ratio, Row, Scenario, ScenarioReport } from '../lib/report.ts';
import { pairedRatios, ratioOfMedians } from '../lib/stats.ts';
import { type DurableResult, durableTrial } from './durable.ts';

const WORKERS = [1, 2, 4] as const;
type Workers = (typeof WORKERS)[number];
const STEPS = 4;
/** Enough sagas in flight to keep every job slot of 4 workers busy (4 x 50). */
const IN_FLIGHT = 200;
const CONCURRENCY = 50;

/**
 * Scenario 11: does durable throughput grow with worker processes? One engine (this process) and
 * 1, 2 or 4 worker child processes (createWorker, concurrency 50 each) on one Redis, the same offered
 * load (200 sagas in flight) for all three, in a different order each round. Printed as measured:
 * on a small machine Redis, the engine and the workers share the same cores, so the CPU each used
 * is printed beside the rates.
 */
export const workerScaling: Scenario = {
  id: 'worker-scaling',
  title: '11. Durable throughput with 1, 2 and 4 worker processes (one engine, one Redis, 200 in flight)',
  async run(ctx: BenchContext): Promise<ScenarioReport> {
    const n = ctx.quick ? 400 : 2000;
    const warmup = warmupOf(ctx);
    const results: Record<Workers, DurableResult[]> = { 1: [], 2: [], 4: [] };
    const orders: Workers[][] = [
      [1, 2, 4],
      [2, 4, 1],
      [4, 1, 2],
    ];
    for (let round = 1; round <= ctx.rounds; round++) {
      const order = orders[(round - 1) % orders.length] as Workers[];
      ctx.log(`round ${round}/${ctx.rounds}: ${order.join(', ')} workers; ${n} sagas each`);
      for (const workers of order) {
        results[workers].push(
          await durableTrial(ctx, { sagas: n, warmup, inFlight: IN_FLIGHT, concurrency: CONCURRENCY, workers }),
        );
      }
    }
    const rate = (workers: Workers) => results[workers].map((r) => r.sagasPerSec);
    const rows: Row[] = WORKERS.flatMap((workers): Row[] => {
      const runs = results[workers];
      const label = `${workers} worker${workers === 1 ? '' : 's'}:`;
      return [
        { metric: `${label} sagas/s`, unit: 'sagas/s', values: rate(workers) },
        { metric: `${label} saga latency p50`, unit: 'ms', values: runs.map((r) => r.p50Ms) },
        { metric: `${label} saga latency p99`, unit: 'ms', values: runs.map((r) => r.p99Ms) },
        // Redis CPU ms per saga x sagas per second = Redis CPU ms per second.
        {
          metric: `${label} Redis CPU`,
          unit: '% of a core',
          values: runs.map((r) => (r.redis.cpuMsPerUnit * r.sagasPerSec) / 10),
        },
        {
          metric: `${label} engine process CPU`,
          unit: '% of a core',
          values: runs.map((r) => r.processes.ownCpuPercent),
        },
        {
          metric: `${label} worker processes CPU (sum)`,
          unit: '% of a core',
          values: runs.map((r) => r.processes.childrenCpuPercent),
        },
        {
          metric: `${label} client commands/step`,
          unit: 'cmds',
          values: runs.map((r) => r.processes.clientCommandsPerUnit / STEPS),
        },
      ];
    });
    const ratio = (a: Workers, b: Workers): Ratio => ({
      name: `sagas/s workers-${a}/workers-${b}`,
      value: ratioOfMedians(rate(a), rate(b)),
      perRound: pairedRatios(rate(a), rate(b)),
    });
    return {
      id: this.id,
      title: this.title,
      params: {
        n,
        warmup,
        inFlight: IN_FLIGHT,
        concurrency: CONCURRENCY,
        workers: WORKERS.join(','),
        cpus: cpus().length,
      },
      rows,
      ratios: [ratio(2, 1), ratio(4, 1)],
      notes: [
        `Linear scaling would be 2 and 4. This machine has ${cpus().length} cores for Redis, the engine process and every worker process together.`,
        'CPU figures are shares of ONE core over the measured run (Redis: INFO cpu; processes: process.cpuUsage()).',
      ],
    };
  },
};
