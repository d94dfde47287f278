#!/usr/bin/env node
import { seededRandom } from '../core/simulator.js';
import { parseCli, UsageError, USAGE, type CliOptions } from './options.js';
import { exitCode, LiveStatus, summaryTable } from './report.js';
import { Simulation } from './shipper.js';

function describeRun(o: CliOptions): string {
  const { ship } = o;
  const until = ship.count !== undefined ? `${ship.count} logs` : ship.durationMs !== undefined ? `${ship.durationMs / 1000} s` : 'Ctrl-C';
  const who = ship.services.map((s) => `${s.name} (${o.tokenSources[s.name]})`).join(', ');
  return (
    `Shipping to ${ship.endpoint}: ${ship.services.length} services, ${ship.rate.toLocaleString('en-US')} logs/s each ` +
    `in ${ship.format} batches of ${ship.batch}, until ${until}.\nTokens: ${who}`
  );
}

async function main(): Promise<number> {
  let options: CliOptions;
  try {
    options = parseCli(process.argv.slice(2));
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`simulate: ${e.message}\nRun with --help to see the options.\n`);
    return 2;
  }
  if (options.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const random = options.seed === undefined ? Math.random : seededRandom(options.seed);
  const talk = !options.quiet;
  if (talk) process.stderr.write(`${describeRun(options)}\n`);

  const sim = new Simulation(options.ship, { random });
  const live = talk && process.stderr.isTTY ? new LiveStatus(process.stderr) : undefined;
  const redraw = live === undefined ? undefined : setInterval(() => live.draw(sim.snapshot()), 250);

  let interrupts = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    interrupts += 1;
    if (interrupts === 1) {
      const message = `${signal}: stopping; delivering queued logs for up to ${options.ship.flushTimeoutMs / 1000} s (Ctrl-C again to quit now)`;
      if (live !== undefined) live.note(message);
      else if (talk) process.stderr.write(`${message}\n`);
      sim.stop();
    } else {
      sim.abort();
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const summary = await sim.done;
  clearInterval(redraw);
  live?.draw(summary.services);
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);

  if (!talk) {
    for (const s of summary.services) if (s.state === 'stopped') process.stderr.write(`simulate: ${s.service} stopped after ${s.last_error}\n`);
  }
  if (options.json) process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  else if (talk) process.stdout.write(`\n${summaryTable(summary)}\n`);
  return exitCode(summary);
}

process.exitCode = await main();
