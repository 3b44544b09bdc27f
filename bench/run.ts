/**
 * xsaga benchmark suite: `npm run bench` (full) or `npm run bench -- --quick` (N/5, < 6 minutes).
 *
 * Starts its own redis-server (free port, no persistence; scenario 10 starts a second one with AOF
 * everysec for its own runs), runs each scenario with every comparison interleaved round by round,
 * prints a table per scenario with `ratio a/b: x` lines, writes bench/results/latest.json, and stops
 * the servers by PID (also on error or Ctrl-C).
 *
 * Options: --quick, --rounds=N (default 3, at least 3), --only=id[,id] (scenario ids below).
 */
import { writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { BenchContext } from './lib/context.ts';
import { countClientCommands } from './lib/process-counters.ts';
import { startRedisServer } from './lib/redis-server.ts';
import type { Scenario, ScenarioReport } from './lib/report.ts';
import { spread } from './lib/stats.ts';
import { renderScenario } from './lib/table.ts';
import { compensation } from './scenarios/compensation.ts';
import { durableVsRaw } from './scenarios/durable-vs-raw.ts';
import { durableVsRawAof } from './scenarios/durable-vs-raw-aof.ts';
import { embedded } from './scenarios/embedded.ts';
import { instrumentation } from './scenarios/instrumentation.ts';
import { parked } from './scenarios/parked.ts';
import { parkedWaits } from './scenarios/parked-waits.ts';
import { recovery } from './scenarios/recovery.ts';
import { redisFootprint } from './scenarios/redis-footprint.ts';
import { timers } from './scenarios/timers.ts';
import { workerScaling } from './scenarios/worker-scaling.ts';

const SCENARIOS: Scenario[] = [
  durableVsRaw,
  durableVsRawAof,
  workerScaling,
  embedded,
  compensation,
  parked,
  parkedWaits,
  timers,
  redisFootprint,
  recovery,
  instrumentation,
];

function parseArgs(argv: string[]) {
  const quick = argv.includes('--quick');
  const roundsArg = argv.find((a) => a.startsWith('--rounds='));
  const rounds = Math.max(3, roundsArg ? Number(roundsArg.slice('--rounds='.length)) : 3);
  const onlyArg = argv.find((a) => a.startsWith('--only='));
  const only = onlyArg ? onlyArg.slice('--only='.length).split(',') : undefined;
  const unknown = only?.filter((id) => !SCENARIOS.some((s) => s.id === id)) ?? [];
  if (unknown.length > 0) {
    throw new Error(`unknown scenario ${unknown.join(', ')}; known: ${SCENARIOS.map((s) => s.id).join(', ')}`);
  }
  return { quick, rounds, only };
}

async function main(): Promise<number> {
  const { quick, rounds, only } = parseArgs(process.argv.slice(2));
  const began = Date.now();
  // Client commands of the engine and producers in this process (scenarios 1-3, 10, 11).
  countClientCommands();
  const server = await startRedisServer();
  const stopOnSignal = (signal: NodeJS.Signals) => {
    process.stderr.write(`\n${signal}: stopping redis-server (pid ${server.pid}) and children\n`);
    void server.stop().finally(() => process.exit(130));
  };
  process.once('SIGINT', stopOnSignal);
  process.once('SIGTERM', stopOnSignal);
  const ctx: BenchContext = {
    redisUrl: server.url,
    quick,
    rounds,
    log: (message) => process.stderr.write(`[bench ${((Date.now() - began) / 1000).toFixed(0)}s] ${message}\n`),
  };
  ctx.log(`redis-server pid ${server.pid} on port ${server.port}; ${quick ? 'quick' : 'full'} run, ${rounds} rounds`);
  const reports: ScenarioReport[] = [];
  let failed = 0;
  try {
    for (const scenario of SCENARIOS) {
      if (only && !only.includes(scenario.id)) continue;
      ctx.log(`scenario ${scenario.id}`);
      try {
        const report = await scenario.run(ctx);
        reports.push(report);
        console.log(renderScenario(report));
      } catch (error) {
        failed++;
        console.error(`scenario ${scenario.id} failed:`, error);
      }
    }
  } finally {
    await server.stop();
  }
  const seconds = (Date.now() - began) / 1000;
  console.log(`\n${reports.length} scenarios in ${seconds.toFixed(0)} s${failed ? `, ${failed} FAILED` : ''}`);
  const results = {
    date: new Date().toISOString(),
    mode: quick ? 'quick' : 'full',
    rounds,
    seconds,
    machine: { cpus: cpus().length, model: cpus()[0]?.model, memoryBytes: totalmem(), node: process.version },
    scenarios: reports.map((report) => ({
      ...report,
      rows: report.rows.map((row) => ({ ...row, ...spread(row.values) })),
      ratios: report.ratios.map((ratio) => ({ ...ratio, spread: spread(ratio.perRound) })),
    })),
  };
  const file = fileURLToPath(new URL('./results/latest.json', import.meta.url));
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`results written to ${file}`);
  return failed > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
