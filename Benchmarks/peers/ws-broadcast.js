#!/usr/bin/env node
'use strict';
// ws-broadcast.js — the peer server for Switchboard's WebSocket benchmarks.
//
// A small broadcast hub on Debian's `node-ws` (ws 8.x) that speaks the subset of the
// switchboard.v1 protocol the load generator uses (docs/contract-draft.md):
//   {"id":1,"type":"subscribe","channel":C}      -> {"id":1,"type":"subscribed","channel":C}
//   {"id":2,"type":"unsubscribe","channel":C}    -> {"id":2,"type":"unsubscribed","channel":C}
//   {"id":3,"type":"publish","channel":C,"data":X} -> every subscriber of C gets
//                                                  {"type":"message","channel":C,"data":X}
//                                                  and, when "id" is present, {"id":3,"type":"published"}
//   {"type":"ping"}                                -> {"type":"pong"}
// It is written the way a careful Node developer would write a broadcast server: the push is
// serialized once per publish and the same string is handed to every subscriber's send().
// Exact channels only (no wildcards), no history, no persistence.
//
// Usage: node ws-broadcast.js [PORT]   (env HOST, default 127.0.0.1; PORT default 8090)

let ws;
try {
  ws = require('ws');
} catch (error) {
  ws = require('/usr/share/nodejs/ws');
}

const host = process.env.HOST || '127.0.0.1';
const port = parseInt(process.argv[2] || process.env.PORT || '8090', 10);

/** channel name -> Set of sockets subscribed to it */
const channels = new Map();

const server = new ws.WebSocketServer({
  host,
  port,
  path: '/ws',
  perMessageDeflate: false,
  maxPayload: 65536,
  clientTracking: false,
  handleProtocols: (protocols) => (protocols.has('switchboard.v1') ? 'switchboard.v1' : false),
});

function reply(socket, object) {
  socket.send(JSON.stringify(object));
}

function error(socket, id, code, message) {
  const frame = { type: 'error', code, message };
  if (id !== undefined) frame.id = id;
  reply(socket, frame);
}

server.on('connection', (socket) => {
  socket.subscriptions = new Set();

  socket.on('message', (data, isBinary) => {
    if (isBinary) return error(socket, undefined, 'bad_request', 'binary frames are not supported');
    let request;
    try {
      request = JSON.parse(data);
    } catch (parseError) {
      return error(socket, undefined, 'bad_request', 'invalid JSON');
    }
    const { id, type, channel } = request;
    switch (type) {
      case 'subscribe': {
        if (typeof channel !== 'string') return error(socket, id, 'bad_request', 'missing channel');
        if (socket.subscriptions.has(channel)) return error(socket, id, 'bad_request', 'already subscribed');
        let members = channels.get(channel);
        if (!members) channels.set(channel, (members = new Set()));
        members.add(socket);
        socket.subscriptions.add(channel);
        return reply(socket, id === undefined ? { type: 'subscribed', channel } : { id, type: 'subscribed', channel });
      }
      case 'unsubscribe': {
        if (!socket.subscriptions.delete(channel)) return error(socket, id, 'not_found', 'not subscribed');
        const members = channels.get(channel);
        members.delete(socket);
        if (members.size === 0) channels.delete(channel);
        return reply(socket, { id, type: 'unsubscribed', channel });
      }
      case 'publish': {
        if (typeof channel !== 'string') return error(socket, id, 'bad_request', 'missing channel');
        const members = channels.get(channel);
        if (members) {
          // Serialize once, send the same string to every subscriber.
          const push = JSON.stringify({ type: 'message', channel, data: request.data });
          for (const member of members) member.send(push);
        }
        if (id !== undefined) reply(socket, { id, type: 'published' });
        return;
      }
      case 'ping':
        return reply(socket, id === undefined ? { type: 'pong' } : { id, type: 'pong' });
      default:
        return error(socket, id, 'bad_request', 'unknown type');
    }
  });

  socket.on('close', () => {
    for (const channel of socket.subscriptions) {
      const members = channels.get(channel);
      if (!members) continue;
      members.delete(socket);
      if (members.size === 0) channels.delete(channel);
    }
    socket.subscriptions.clear();
  });

  socket.on('error', () => {});
});

server.on('listening', () => {
  process.stdout.write(`ws-broadcast listening on ws://${host}:${port}/ws\n`);
});

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => process.exit(0));
}
