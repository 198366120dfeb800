/**
 * Child process for quic-link.test.ts: dials 127.0.0.1:<port> (argv[2])
 * with a short idle timeout, prints its public key (hex) on stdout, sends
 * 'hi' on a stream and waits to be killed (the "vanished peer" case).
 */
import { generateIdentity } from '../../../src/engine/crypto/identity.js';
import { dialQuic } from '../../../src/engine/transport/quic-link.js';

const port = Number(process.argv[2]);
const identity = generateIdentity();
const { link } = await dialQuic({ identity, host: '127.0.0.1', port, maxIdleTimeoutMs: 1_500 });
const stream = await link.openStream();
process.stdout.write(`${Buffer.from(identity.publicKey).toString('hex')}\n`);
await stream.write(new TextEncoder().encode('hi'));
// Stay alive until killed.
setInterval(() => {}, 1_000);
