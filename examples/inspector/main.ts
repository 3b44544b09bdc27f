/**
 * The trip-booking saga watched by the Stately inspector over a WebSocket, as a server would do it.
 *
 *   npx tsx examples/inspector/main.ts
 *
 * With no INSPECTOR_URL it starts its own local WebSocket server standing in for the inspector and
 * prints what the inspector was told: one actor per saga, named by its saga id, with the machine
 * definition, every snapshot and every event. To watch it live in a browser instead, start
 * `createInspectorServer()` from `@statelyai/inspect/server` in another process (it serves a page on
 * http://localhost:8080 that forwards to the Stately inspector) and run this with
 * INSPECTOR_URL=ws://localhost:8080.
 */
import type { AddressInfo } from 'node:net';
import { createWebSocketInspector } from '@statelyai/inspect';
import { WebSocketServer } from 'ws';
import { createEngine } from '../../src/index.ts';
import { Participants, trip, tripHandlers } from '../trip-booking/saga.ts';

interface Message {
  type: string;
  sessionId: string;
  name?: string;
  definition?: string;
  event?: { type: string; step?: string; direction?: string };
  snapshot?: { value?: unknown };
}

const received: Message[] = [];
let standIn: WebSocketServer | undefined;
let url = process.env.INSPECTOR_URL;
if (!url) {
  standIn = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((resolve) => standIn?.once('listening', resolve));
  standIn.on('connection', (socket) => socket.on('message', (data) => received.push(JSON.parse(String(data)))));
  url = `ws://127.0.0.1:${(standIn.address() as AddressInfo).port}`;
}

const inspector = createWebSocketInspector({ url });
const engine = createEngine({
  handlers: { [trip.name]: tripHandlers(new Participants()) },
  inspect: inspector.inspect,
});

const { sagaId } = await engine.start(trip, { tripId: 't-300', cardDeclined: true }, { sagaId: 'trip-t-300' });
const final = await engine.waitFor(sagaId, { timeoutMs: 10_000 });
process.stdout.write(`saga ${sagaId}: ${final.state}\n`);
// The inspector serializes on the next tick and sends once its socket is open.
await new Promise((resolve) => setTimeout(resolve, 300));

if (standIn) {
  for (const message of received) {
    const what =
      message.type === '@xstate.actor'
        ? `registered "${message.name}" with its machine "${(JSON.parse(message.definition ?? '{}') as { id?: string }).id}"`
        : message.type === '@xstate.event'
          ? `event ${message.event?.type}${message.event?.step ? ` ${message.event.direction} ${message.event.step}` : ''}`
          : `snapshot ${JSON.stringify(message.snapshot?.value)}`;
    process.stdout.write(`  ${message.sessionId}  ${what}\n`);
  }
}

await engine.close();
inspector.stop();
if (standIn) {
  for (const client of standIn.clients) client.terminate();
  await new Promise((resolve) => standIn?.close(resolve));
}
const sessions = new Set(received.map((m) => m.sessionId));
if (final.state !== 'Failed' || (standIn && (sessions.size !== 1 || !sessions.has(`xsaga:${sagaId}`)))) {
  process.exitCode = 1;
}
