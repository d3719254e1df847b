/**
 * Loopback networking for the harness. Every server in these tests listens
 * on 127.0.0.1 and is reached as http://localhost:PORT: the broker and the
 * OpenID provider are configured with that origin, and browsers treat
 * localhost as a secure context, so cookies and redirects behave as they
 * would over HTTPS.
 */
import net from 'node:net';

/**
 * Listens on a port the system picks on 127.0.0.1.
 * @param {net.Server} server any server (`http.Server` is one)
 * @returns {Promise<number>} the port
 */
export function listenOnLoopback(server) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve(server.address().port);
    });
  });
}

/**
 * Stops a server and, for an HTTP server, drops its keep-alive connections
 * (a browser holds some open, which would make `close` wait for them).
 * @param {net.Server} server
 * @returns {Promise<void>}
 */
export function closeServer(server) {
  return new Promise((resolve, reject) => {
    server.close((error) => (error ? reject(error) : resolve()));
    server.closeAllConnections?.();
  });
}

/**
 * A port that was free a moment ago, for a process that must know its port
 * before it starts (the broker's public URL includes it). Another process
 * could take it in between; on a test machine that is rare enough.
 * @returns {Promise<number>}
 */
export async function freePort() {
  const server = net.createServer();
  const port = await listenOnLoopback(server);
  await closeServer(server);
  return port;
}
