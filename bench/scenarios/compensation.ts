import { type BenchContext, warmupOf } from '../lib/context.ts';
import type { Ratio, Scenario, ScenarioReport } from '../lib/report.ts';
import { pairedRatios, ratioOfMedians } from '../lib/stats.ts';
import { type DurableResult, durableTrial } from './durable.ts';
import { embeddedTrial, type InProcessResult } from './embedded.ts';

/**
 * Scenario 5: the compensation path. Step 4 throws a TerminalError, so three compensations run
 * (7 step jobs per saga instead of 4). Durable and embedded, each next to the happy path in the
 * same round, so the cost of the rollback is a ratio.
 */
export const compensation: Scenario = {
  id: 'compensation',
  title: '5. Compensation path: TerminalError at step 4, 3 compensations (durable and embedded)',
  async run(ctx: BenchContext): Promise<ScenarioReport> {
    const durableN = ctx.quick ? 400 : 2000;
    const embeddedN = ctx.quick ? 4000 : 20_000;
    const durable = { happy: [] as DurableResult[], failing: [] as DurableResult[] };
    const embedded = { happy: [] as InProcessResult[], failing: [] as InProcessResult[] };
    const durableOptions = { sagas: durableN, warmup: warmupOf(ctx), inFlight: 50, concurrency: 50 };
    const embeddedOptions = { sagas: embeddedN, warmup: ctx.quick ? 1000 : 2000, inFlight: 200 };
    for (let round = 1; round <= ctx.rounds; round++) {
      ctx.log(`round ${round}/${ctx.rounds}: durable ${durableN} sagas, happy then declined`);
      durable.happy.push(await durableTrial(ctx, durableOptions));
      durable.failing.push(await durableTrial(ctx, { ...durableOptions, cardDeclined: true }));
      ctx.log(`round ${round}/${ctx.rounds}: embedded ${embeddedN} sagas, happy then declined`);
      embedded.happy.push(await embeddedTrial(embeddedOptions));
      embedded.failing.push(await embeddedTrial({ ...embeddedOptions, cardDeclined: true }));
    }
    const rate = (list: Array<{ sagasPerSec: number }>) => list.map((r) => r.sagasPerSec);
    const ratio = (name: string, a: Array<{ sagasPerSec: number }>, b: Array<{ sagasPerSec: number }>): Ratio => ({
      name,
      value: ratioOfMedians(rate(a), rate(b)),
      perRound: pairedRatios(rate(a), rate(b)),
    });
    return {
      id: this.id,
      title: this.title,
      params: { durableN, embeddedN, durableInFlight: 50, embeddedInFlight: 200 },
      rows: [
        { metric: 'durable compensating sagas/s', unit: 'sagas/s', values: rate(durable.failing) },
        { metric: 'durable happy sagas/s (same rounds)', unit: 'sagas/s', values: rate(durable.happy) },
        { metric: 'durable compensating latency p50', unit: 'ms', values: durable.failing.map((r) => r.p50Ms) },
        { metric: 'durable compensating latency p99', unit: 'ms', values: durable.failing.map((r) => r.p99Ms) },
        {
          metric: 'durable compensating Redis cmds/saga',
          unit: 'cmds',
          values: durable.failing.map((r) => r.redis.commandsPerUnit),
        },
        { metric: 'embedded compensating sagas/s', unit: 'sagas/s', values: rate(embedded.failing) },
        { metric: 'embedded happy sagas/s (same rounds)', unit: 'sagas/s', values: rate(embedded.happy) },
      ],
      ratios: [
        ratio('durable compensating/happy', durable.failing, durable.happy),
        ratio('embedded compensating/happy', embedded.failing, embedded.happy),
      ],
      notes: ['A compensating saga runs 7 step jobs (4 runs, the last failing, then 3 compensations) vs 4.'],
    };
  },
};
