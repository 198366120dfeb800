/** `ferry relay`: run a relay (TCP+TLS always, QUIC when `--quic-port` is given). */
import { fingerprint, shortFingerprint } from '../engine/crypto/identity.js';
import { createSelfSignedCert } from '../engine/transport/tls-cert.js';
import { startQuicRelayFront } from '../relay/quic-front.js';
import { startRelay } from '../relay/server.js';
import { loadOrCreateIdentity } from '../store/identity-file.js';
import { type GlobalOptions, parseHostPort, resolveConfigDir } from './common.js';
import { ExitCode, type Reporter } from './output.js';

/** Options of `ferry relay`. */
export interface RelayCommandOptions extends GlobalOptions {
  listen: string;
  quicPort?: string;
  metrics?: string;
  password?: string;
}

/** Run the relay until `signal` aborts; resolves with the exit code. */
export async function relayCommand(
  opts: RelayCommandOptions,
  out: Reporter,
  signal: AbortSignal,
): Promise<number> {
  const listen = parseHostPort(opts.listen, '--listen');
  const metrics = opts.metrics ? parseHostPort(opts.metrics, '--metrics') : undefined;
  const quicPort = opts.quicPort === undefined ? undefined : Number(opts.quicPort);
  if (
    quicPort !== undefined &&
    !(Number.isInteger(quicPort) && quicPort >= 0 && quicPort < 65536)
  ) {
    throw new RangeError(`--quic-port '${opts.quicPort}': expected a port number`);
  }
  const identity = await loadOrCreateIdentity(resolveConfigDir(opts.configDir));
  const cert = createSelfSignedCert(identity, { commonName: 'ferry-relay' });
  const relay = await startRelay({
    host: listen.host,
    port: listen.port,
    tls: { key: cert.keyPem.toString(), cert: cert.certPem },
    ...(opts.password ? { password: opts.password } : {}),
    ...(metrics ? { metrics } : {}),
  });
  cert.keyPem.fill(0);
  const quic =
    quicPort === undefined
      ? undefined
      : await startQuicRelayFront({
          identity,
          host: listen.host,
          port: quicPort,
          rooms: relay.rooms,
        });
  const pin = shortFingerprint(identity.publicKey);
  out.line({
    type: 'listening',
    host: listen.host,
    tcp_port: relay.port,
    quic_port: quic?.port ?? null,
    metrics_port: relay.metricsPort ?? null,
    fingerprint: fingerprint(identity.publicKey),
    pin,
  });
  out.say(
    `ferry relay on ${listen.host}: tcp ${relay.port}${quic ? `, quic ${quic.port}` : ''}` +
      (relay.metricsPort ? `, metrics http://${metrics!.host}:${relay.metricsPort}/metrics` : ''),
  );
  out.say(
    `its key: ${pin}. Clients that write the address as HOST:${relay.port}#${pin} ` +
      'check it and refuse a machine posing as this relay.',
  );
  if (listen.host === '127.0.0.1' || listen.host === '::1') {
    out.say('(loopback only; pass --listen 0.0.0.0:9009 to serve other machines)');
  }
  await new Promise<void>((resolve) =>
    signal.addEventListener('abort', () => resolve(), { once: true }),
  );
  await quic?.close();
  await relay.close();
  return ExitCode.Ok;
}
