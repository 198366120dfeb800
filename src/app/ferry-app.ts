/**
 * The app core behind the TUI: one long-lived process that announces this
 * device on the LAN, takes incoming transfers, and runs a persistent queue
 * of sends and receives (LAN peers and code phrases) through the engine.
 * It implements FerryController: the UI polls its versioned snapshot and
 * calls its commands; nothing here knows about React.
 *
 * At start the queue reloads from `sessions.json`: finished sessions come
 * back as history, unfinished ones resume by the `autoResume` setting when
 * their peer is reachable (a LAN peer seen again, a code session through
 * the resume rendezvous) — docs/adr/0009.
 */
import { randomBytes } from 'node:crypto';
import { isAbsolute, resolve } from 'node:path';
import { resolveRelays, transferIdFor } from '../cli/common.js';
import { VALUE_FORMS } from '../cli/help.js';
import { dialDevice, lanSettings, listenHost, rememberPeer, touchKnown } from '../cli/lan.js';
import { displayName } from '../cli/output.js';
import { DirectListener } from '../cli/paths.js';
import { onProven } from '../cli/send.js';
import { sessionForCode } from '../cli/sessions.js';
import { formatSettingValue, parseSettingValue, settingKey } from '../cli/settings.js';
import { MAX_MORE_CODE_OFFERS } from '../discovery/advert.js';
import { LanDiscovery } from '../discovery/lan.js';
import { PeerTable } from '../discovery/peer-table.js';
import { generateCode, parseCode } from '../engine/crypto/code-phrase.js';
import type { Identity } from '../engine/crypto/identity.js';
import { fingerprint, shortFingerprint } from '../engine/crypto/identity.js';
import { sessionCodeHash } from '../engine/crypto/resume.js';
import { combine, systemClock, type Throttle, TokenBucket } from '../engine/queue/bandwidth.js';
import {
  isFinal,
  type Job,
  type JobRun,
  type JobSpec,
  type Priority,
  type RunPhase,
  Scheduler,
} from '../engine/queue/scheduler.js';
import { walkSources } from '../engine/transfer/manifest.js';
import { targetFolderProblem } from '../engine/transfer/safe-path.js';
import type { Transfer } from '../engine/transfer/transfer.js';
import { lanTransferId } from '../engine/transfer/transfer-id.js';
import type { LinkInfo } from '../engine/transport/link.js';
import { CheckpointFileStore } from '../store/checkpoint-file-store.js';
import { FerryConfig, SETTING_KEYS, type Settings } from '../store/config.js';
import { loadOrCreateIdentity } from '../store/identity-file.js';
import {
  type NewSessionRecord,
  type SessionRecord,
  SessionRegistry,
} from '../store/session-store.js';
import { finished } from './attempt.js';
import {
  type CodeReceiveJob,
  type CodeSendJob,
  startCodeReceive,
  startCodeSend,
} from './code-runners.js';

import type {
  AppSnapshot,
  FerryController,
  NetworkView,
  Notice,
  OfferAnswer,
  PeerView,
} from './controller.js';
import { type IncomingJob, IncomingTransfers, incomingPeer } from './incoming.js';
import { JobTrack } from './job-track.js';
import { type LanSendJob, LanSendRunner } from './lan-send-runner.js';
import { noticeReporter } from './notice-reporter.js';
import { OfferBox } from './offers.js';
import {
  cameBackOnNewPorts,
  type Listening,
  listeningOf,
  PeerLinks,
  sameListening,
} from './peer-links.js';
import { persistQueue, restoreQueue } from './queue-store.js';

/** Options of FerryApp.start (the CLI's global flags). */
export interface FerryAppOptions {
  readonly configDir: string;
  /** false: `--no-mdns`. */
  readonly mdns?: boolean;
  readonly mdnsInterface?: string;
  /** `--relay` flags (else FERRY_RELAY, else the setting). */
  readonly relays?: string[];
  readonly relayPassword?: string;
  readonly env?: NodeJS.ProcessEnv;
}

type AnyJob = (LanSendJob & { kind: 'lan-send' }) | CodeSendJob | CodeReceiveJob | IncomingJob;

/** Discovery as it came up at start. */
interface NetworkState {
  discovery: NetworkView['discovery'];
  note?: string;
  iface?: string;
}

const MAX_NOTICES = 20;
/** Finished sessions older than this are dropped when the app starts (30 days). */
export const HISTORY_MS = 30 * 24 * 3600 * 1000;
const RUNNING = new Set(['connecting', 'awaiting-accept', 'transferring', 'verifying']);

/** The running app core. */
export class FerryApp implements FerryController {
  readonly #opts: FerryAppOptions;
  readonly #config: FerryConfig;
  readonly #identity: Identity;
  readonly #registry: SessionRegistry;
  readonly #lan: LanDiscovery | null;
  readonly #listener: DirectListener | null;
  readonly #network: NetworkState;
  readonly #links: PeerLinks;
  readonly #queue: Scheduler;
  readonly #tracks = new Map<string, JobTrack>();
  readonly #offers = new OfferBox();
  readonly #incoming: IncomingTransfers;
  readonly #checkpoints: CheckpointFileStore;
  readonly #global: TokenBucket;
  /** Records for jobs being added (persistQueue asks for them). */
  readonly #newRecords = new Map<string, NewSessionRecord>();
  readonly #notices: Notice[] = [];
  #announcing: Promise<void> = Promise.resolve();
  /** Code sends waiting on the LAN, newest last. */
  readonly #codeOffers: { hint: string; listener: DirectListener }[] = [];
  #noticeId = 0;
  #version = 0;
  #relayStatus: NetworkView['relayStatus'] = 'unknown';
  /** Online devices and where they listen (see #peersChanged). */
  #online = new Map<string, Listening>();
  #cached: AppSnapshot | null = null;
  #cachedKey = '';
  #closed = false;
  readonly #unsubscribe: (() => void)[] = [];

  private constructor(
    opts: FerryAppOptions,
    parts: {
      config: FerryConfig;
      identity: Identity;
      registry: SessionRegistry;
      lan: LanDiscovery | null;
      listener: DirectListener | null;
      network: NetworkState;
      notices: Notice[];
    },
  ) {
    this.#opts = opts;
    this.#config = parts.config;
    this.#identity = parts.identity;
    this.#registry = parts.registry;
    this.#lan = parts.lan;
    this.#listener = parts.listener;
    this.#network = parts.network;
    this.#notices.push(...parts.notices);
    this.#noticeId = parts.notices.length;
    this.#checkpoints = new CheckpointFileStore(opts.configDir);
    this.#global = new TokenBucket({ rateBps: this.#config.settings.rateLimit });
    this.#links = new PeerLinks({
      dial: (peer, key, signal) => dialDevice(peer, this.#identity, key, signal),
    });
    const lanRunner = new LanSendRunner({
      identity: this.#identity,
      table: this.#lan?.table ?? new PeerTable({ now: () => Date.now() }),
      links: this.#links,
      pinnedKey: (fp) => this.#config.knownPeer(fp)?.publicKey,
      deviceName: () => this.#config.deviceName,
      chunkSize: () => this.#config.settings.chunkSize,
      memoryBudget: () => this.#config.settings.windowMemory,
      throttle: () => this.#throttle(),
      confirmNew: async (job, peer) => {
        // The words were compared for this key when the job first started
        // (the record has its key since): a resumed attempt needs no new look.
        const r = this.#registry.get(job.id)?.peer;
        const key = Buffer.from(peer.publicKey).toString('hex');
        if (r?.publicKey === key && r.fingerprint === peer.fingerprint) return true;
        return this.#track(job.id).askConfirm(peer);
      },
      onTransfer: (job, t, info) => {
        this.#attach(job.id, t, info);
        // The receiver proved its key and both users compared the words: pin it.
        onProven(t, (p) => this.#proven(p.publicKey, p.name, 'sas'));
      },
    });
    this.#queue = new Scheduler({
      clock: systemClock,
      maxConcurrent: this.#config.settings.maxConcurrent,
      runner: { start: (job, phase) => this.#start(job, phase, lanRunner) },
    });
    this.#incoming = new IncomingTransfers({
      identity: this.#identity,
      config: this.#config,
      queue: this.#queue,
      checkpoints: this.#checkpoints,
      targetDir: () => this.#downloadDir(),
      windowMemory: () => this.#config.settings.windowMemory,
      throttle: () => this.#throttle(),
      ask: (offer, known, signal) => this.#offers.ask(offer, known, this.#downloadDir(), signal),
      enqueue: (offer, targetDir) => {
        if (this.#queue.get(offer.transferId)) this.#queue.remove(offer.transferId);
        this.#addJob(
          {
            id: offer.transferId,
            direction: 'receive',
            peer: incomingPeer(offer.peer.fingerprint),
            data: { kind: 'incoming', targetDir } satisfies IncomingJob,
          },
          {
            via: 'lan',
            peer: {
              fingerprint: offer.peer.fingerprint,
              publicKey: Buffer.from(offer.peer.publicKey).toString('hex'),
              ...(offer.peerName ? { name: offer.peerName } : {}),
            },
            paths: [targetDir],
            targetDir,
            files: offer.files.map((f) => ({ path: f.path, size: f.size })),
          },
          this.#peerLabel(offer.peer.fingerprint, offer.peerName),
        );
      },
      attach: (id, t, info) => this.#attach(id, t, info),
      notice: (level, text) => this.#notice(level, text),
      proven: (key, name, first) => this.#proven(key, name, first ? 'sas' : null),
      trustAlways: (key, name) => this.#pin(key, name, 'sas', true),
    });
    if (this.#listener) {
      this.#listener.handler = (link) => this.#incoming.onLink(link, link.info);
    }
    this.#unsubscribe.push(
      persistQueue(this.#queue, this.#registry, (job) => {
        const r = this.#newRecords.get(job.id);
        this.#newRecords.delete(job.id);
        return r ?? blankRecord(job);
      }),
      this.#queue.on((e) => {
        this.#version++;
        if (e.type === 'state') {
          const t = this.#tracks.get(e.job.id);
          if (t && RUNNING.has(e.job.state)) t.facts.restored = false;
          if (t && e.job.state === 'failed' && e.job.error)
            t.note(`failed: ${e.job.error.message}`);
        }
        if (e.type === 'removed') {
          this.#tracks.get(e.id)?.dispose();
          this.#tracks.delete(e.id);
        }
      }),
    );
    if (this.#lan) {
      this.#unsubscribe.push(this.#lan.table.onChange(() => this.#peersChanged()));
    }
  }

  /** Open the config dir, start discovery and the listener, and reload the queue. */
  static async start(opts: FerryAppOptions): Promise<FerryApp> {
    const notices: Notice[] = [];
    const warn = (text: string) =>
      notices.push({ id: notices.length + 1, at: Date.now(), level: 'warn', text });
    const config = FerryConfig.open(opts.configDir, { onWarning: warn });
    const identity = await loadOrCreateIdentity(opts.configDir);
    const registry = SessionRegistry.open(opts.configDir, { onWarning: warn });
    const s = lanSettings(
      {
        mdns: opts.mdns !== false,
        ...(opts.mdnsInterface ? { mdnsInterface: opts.mdnsInterface } : {}),
      },
      config,
      opts.env ?? process.env,
    );
    const network: NetworkState = {
      discovery: 'off',
      ...(s.interface ? { iface: s.interface } : {}),
    };
    let lan: LanDiscovery | null = null;
    let listener: DirectListener | null = null;
    if (s.enabled) {
      try {
        lan = await LanDiscovery.start({
          publicKey: identity.publicKey,
          name: config.deviceName,
          ...(s.interface ? { interface: s.interface } : {}),
          ...(s.port ? { port: s.port } : {}),
          known: config.knownPeers(),
          onWarning: (m) => warn(`discovery: ${m}`),
        });
        listener = await DirectListener.start(identity, listenHost(s), 0);
        await lan.announce({ quicPort: listener.quicPort, tcpPort: listener.tcpPort });
        network.discovery = 'on';
      } catch (err) {
        await listener?.close().catch(() => undefined);
        await lan?.close().catch(() => undefined);
        lan = null;
        listener = null;
        network.discovery = 'failed';
        network.note = (err as Error).message;
        warn(`LAN discovery unavailable: ${(err as Error).message}`);
      }
    } else {
      network.note = 'turned off (--no-mdns or the mdns setting)';
    }
    const app = new FerryApp(opts, { config, identity, registry, lan, listener, network, notices });
    app.#restore();
    return app;
  }

  // ---- commands -----------------------------------------------------------

  async sendToPeer(paths: readonly string[], peer: string): Promise<string> {
    if (!this.#lan) throw new Error('LAN discovery is off: send by code instead');
    const entry = this.#lan.table.get(peer) ?? resolvedPeer(this.#lan, peer);
    const known = this.#config.knownPeer(entry.fingerprint);
    const key = known ? Buffer.from(known.publicKey, 'hex') : entry.publicKey;
    const abs = absolute(paths);
    const { files } = await walkSources(abs);
    if (files.length === 0) throw new Error('nothing to send: no regular files there');
    const id = Buffer.from(
      lanTransferId(
        this.#identity.publicKey,
        Uint8Array.from(key),
        files.map((f) => f.path),
      ),
    ).toString('hex');
    this.#replaceFinished(id);
    this.#addJob(
      {
        id,
        direction: 'send',
        peer: entry.fingerprint,
        data: { kind: 'lan-send', paths: abs, peer: entry.fingerprint } satisfies AnyJob,
      },
      {
        via: 'lan',
        peer: { fingerprint: entry.fingerprint, name: entry.name },
        paths: abs,
        files: files.map((f) => ({ path: f.path, size: f.size })),
      },
      known ? displayName(known.nickname) : displayName(entry.name),
    );
    return id;
  }

  async sendByCode(paths: readonly string[]): Promise<{ id: string; code: string }> {
    if (this.#relays().length === 0 && !this.#lan) {
      throw new Error(
        'no way to reach a receiver: LAN discovery is off and no relay is set (Settings: relays)',
      );
    }
    const abs = absolute(paths);
    const { files } = await walkSources(abs);
    if (files.length === 0) throw new Error('nothing to send: no regular files there');
    const code = generateCode();
    const parsed = parseCode(code);
    const id = Buffer.from(
      transferIdFor(
        code,
        files.map((f) => f.path),
      ),
    ).toString('hex');
    this.#addJob(
      {
        id,
        direction: 'send',
        data: { kind: 'code-send', paths: abs, code } satisfies CodeSendJob,
      },
      {
        via: 'code',
        peer: {},
        paths: abs,
        files: files.map((f) => ({ path: f.path, size: f.size })),
        codeHash: sessionCodeHash(parsed.nameplate, parsed.password),
      },
      `code ${code.split('-')[0]}-…`,
      code,
    );
    return { id, code };
  }

  async receiveByCode(code: string, dir?: string): Promise<string> {
    const parsed = parseCode(code.trim());
    const codeHash = sessionCodeHash(parsed.nameplate, parsed.password);
    const earlier = sessionForCode(this.#registry, 'receive', codeHash);
    const job = earlier ? this.#queue.get(earlier.id) : undefined;
    if (earlier && job) {
      // The same code again: the session it started resumes (no new offer).
      if (job.state === 'paused') this.#queue.resume(job.id);
      else this.#queue.retryNow(job.id);
      return job.id;
    }
    const targetDir = resolve(dir?.trim() || this.#downloadDir());
    const problem = await targetFolderProblem(targetDir);
    if (problem) throw new Error(`Save to ${problem}`);
    const id = randomBytes(16).toString('hex');
    this.#addJob(
      {
        id,
        direction: 'receive',
        data: { kind: 'code-receive', targetDir, code: code.trim() } satisfies CodeReceiveJob,
      },
      { via: 'code', peer: {}, paths: [targetDir], targetDir, files: [], codeHash },
      `code ${parsed.nameplate}-…`,
    );
    return id;
  }

  answerOffer(id: string, answer: OfferAnswer): void {
    if (!this.#offers.answer(id, answer)) throw new Error('that offer is no longer waiting');
  }

  confirmPeer(jobId: string, ok: boolean): void {
    if (!this.#tracks.get(jobId)?.answerConfirm(ok)) {
      throw new Error('that transfer is not waiting for a confirmation');
    }
  }

  pause(id: string): void {
    this.#queue.pause(this.#job(id).id);
  }

  resume(id: string): void {
    this.#queue.resume(this.#job(id).id);
  }

  togglePause(id: string): void {
    const job = this.#job(id);
    if (job.state === 'paused') this.#queue.resume(id);
    else if (isFinal(job.state)) {
      throw new Error(`this transfer is ${job.state}; R retries it`);
    } else this.#queue.pause(id);
  }

  cancel(id: string): void {
    this.#queue.cancel(this.#job(id).id);
  }

  setPriority(id: string, priority: Priority): void {
    this.#queue.setPriority(this.#job(id).id, priority);
  }

  retryNow(id: string): void {
    const job = this.#job(id);
    if (job.state === 'paused') this.#queue.resume(id);
    else this.#queue.retryNow(id);
  }

  pauseAll(): void {
    this.#queue.pauseAll();
  }

  resumeAll(): void {
    this.#queue.resumeAll();
  }

  discard(id: string): void {
    const job = this.#job(id);
    const transferId = this.#registry.get(id)?.transferId ?? id;
    if (!isFinal(job.state)) this.#queue.cancel(id);
    this.#queue.remove(id);
    // A receive's partial files go with it (verified ones stay).
    if (job.direction === 'receive' && job.state !== 'done') {
      this.#checkpoints
        .discard(transferId)
        .then((n) => n > 0 && this.#notice('info', `removed ${n} partial file(s)`))
        .catch((err: Error) => this.#notice('warn', `partial files not removed: ${err.message}`));
    }
  }

  setSetting(key: string, value: string): void {
    const k = settingKey(key);
    const v = parseSettingValue(k, value);
    this.#config.updateSettings({ [k]: v } as Partial<Settings>);
    const s = this.#config.settings;
    if (k === 'maxConcurrent') this.#queue.setMaxConcurrent(s.maxConcurrent);
    if (k === 'rateLimit') this.#global.setRate(s.rateLimit);
    if (k === 'deviceName' && this.#lan) {
      // Peers see the new name at the next announcement: now.
      this.#lan.rename(this.#config.deviceName);
      void this.#announce();
    }
    if (k === 'chunkSize' || k === 'windowMemory') {
      this.#notice('info', `${k} applies to transfers that start from now on`);
    }
    if (k === 'mdns' || k === 'mdnsInterface') {
      this.#notice('info', `${k} takes effect when ferry starts again`);
    }
    this.#version++;
  }

  trustPeer(fp: string): void {
    const entry = this.#lan?.table.get(fp);
    if (!entry) throw new Error('that device is not on this network right now');
    if (entry.impersonates) {
      throw new Error(
        `this device uses the name of your known peer '${entry.impersonates}' with another key; forget that one first (ferry peers forget)`,
      );
    }
    this.#pin(entry.publicKey, entry.name, 'manual', false);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue.shutdown();
    this.#offers.declineAll();
    for (const t of this.#tracks.values()) t.dispose();
    for (const u of this.#unsubscribe) u();
    if (this.#listener) this.#listener.handler = null;
    await this.#incoming.close();
    await this.#links.close();
    // Goodbye first: peers drop us at once.
    await this.#lan?.close().catch(() => undefined);
    await this.#listener?.close().catch(() => undefined);
    this.#registry.flush();
  }

  // ---- snapshot -------------------------------------------------------------

  snapshot(): AppSnapshot {
    let key = `${this.#version}|${this.#offers.version}`;
    for (const t of this.#tracks.values()) key += `|${t.version}.${t.transfer?.version ?? -1}`;
    if (this.#cached && key === this.#cachedKey) return this.#cached;
    const settings = this.#config.settings;
    const jobs = this.#queue.list().map((j) => this.#track(j.id).view(j));
    const relays = this.#relays();
    this.#cached = {
      version: (this.#cached?.version ?? 0) + 1,
      device: {
        name: this.#config.deviceName,
        fingerprint: fingerprint(this.#identity.publicKey),
        shortId: shortFingerprint(this.#identity.publicKey),
      },
      network: {
        relays: relays.map((r) => `${r.host}:${r.port}`),
        relayStatus: relays.length === 0 ? 'none' : this.#relayStatus,
        discovery: this.#network.discovery,
        ...(this.#network.iface ? { discoveryInterface: this.#network.iface } : {}),
        ...(this.#network.note ? { discoveryNote: this.#network.note } : {}),
        ...(this.#listener
          ? { listening: { quicPort: this.#listener.quicPort, tcpPort: this.#listener.tcpPort } }
          : {}),
      },
      peers: this.#peers(),
      jobs,
      offers: this.#offers.list(),
      notices: [...this.#notices],
      settings: SETTING_KEYS.map((k) => ({
        key: k,
        value: formatSettingValue(k, settings[k]),
        help: VALUE_FORMS[k],
      })),
      downloadDir: this.#downloadDir(),
    };
    this.#cachedKey = key;
    return this.#cached;
  }

  /** The scheduler, for tests and the headless commands that reuse the app. */
  get queue(): Scheduler {
    return this.#queue;
  }

  // ---- internals ------------------------------------------------------------

  #peers(): PeerView[] {
    const list = this.#lan?.table.list();
    if (list) {
      return list.map((p) => ({
        fingerprint: p.fingerprint,
        shortId: p.shortId,
        name: displayName(p.nickname ?? p.name),
        online: p.online,
        badge: p.impersonates ? 'key-changed' : p.known ? 'known' : 'new',
        lastSeen: p.lastSeen,
        autoAccept: p.autoAccept,
      }));
    }
    return this.#config.knownPeers().map((k) => ({
      fingerprint: k.fingerprint,
      shortId: shortFingerprint(Buffer.from(k.publicKey, 'hex')),
      name: displayName(k.nickname),
      online: false,
      badge: 'known',
      lastSeen: k.lastSeen ? Date.parse(k.lastSeen) : null,
      autoAccept: k.autoAccept,
    }));
  }

  #peersChanged(): void {
    this.#version++;
    // Where each online device listens. A device that comes online, or
    // announces new ports (it restarted), is worth trying at once: jobs
    // waiting for it, or backing off after it vanished, go now.
    const now = new Map<string, Listening>();
    for (const p of this.#lan!.table.list()) {
      if (p.online) now.set(p.fingerprint, listeningOf(p));
    }
    for (const [fp, where] of now) {
      const before = this.#online.get(fp);
      if (before && sameListening(before, where)) continue;
      if (before !== undefined) {
        if (cameBackOnNewPorts(before, where)) {
          // Its old connection is dead; waiting for the transport to notice
          // takes its idle timeout. The jobs on it fail now and retry (those
          // already retrying go at once, below).
          this.#links.forget(fp);
          for (const j of this.#queue.list()) {
            if (j.peer === fp && !isFinal(j.state)) {
              this.#track(j.id).note('the device came back on new ports: reconnecting');
            }
          }
        }
        for (const j of this.#queue.list()) {
          if (j.peer === fp && j.state === 'retrying') this.#queue.retryNow(j.id);
        }
      }
      this.#queue.peerAvailable(fp);
    }
    this.#online = now;
  }

  #start(job: Job, phase: (p: RunPhase) => void, lanRunner: LanSendRunner): JobRun {
    const data = job.data as AnyJob | undefined;
    const ctx = this.#codeContext();
    switch (data?.kind) {
      case 'lan-send':
        phase('connecting');
        return lanRunner.start(job, phase);
      case 'code-send':
        return startCodeSend(ctx, job, phase);
      case 'code-receive':
        return startCodeReceive(ctx, job, phase);
      case 'incoming':
        return this.#incoming.start(job, phase);
      default:
        return finished({
          ok: false,
          error: { code: 'PROTOCOL', message: 'unknown kind of job', retryable: false },
        });
    }
  }

  #codeContext(): Parameters<typeof startCodeSend>[0] {
    return {
      identity: this.#identity,
      registry: this.#registry,
      relays: () => this.#relays(),
      ...(this.#opts.relayPassword ? { relayPassword: this.#opts.relayPassword } : {}),
      lan: () => this.#lan,
      deviceName: () => this.#config.deviceName,
      chunkSize: () => this.#config.settings.chunkSize,
      windowMemory: () => this.#config.settings.windowMemory,
      throttle: () => this.#throttle(),
      checkpoints: this.#checkpoints,
      note: (job, text) => {
        this.#track(job.id).note(text);
        if (/^relay .*:/.test(text)) this.#relayStatus = 'unreachable';
      },
      attach: (job, t, info) => this.#attach(job.id, t, info),
      decide: async (_job, offer, signal) => {
        const known = Boolean(this.#config.knownPeer(offer.peer.fingerprint));
        const answer = await this.#offers.ask(offer, known, this.#downloadDir(), signal);
        if (answer === 'always') this.#pin(offer.peer.publicKey, offer.peerName, 'code', true);
        return answer !== 'decline';
      },
      proven: (key, name) => this.#proven(key, name, 'code'),
      offerOnLan: (hint) => this.#offerOnLan(hint),
    };
  }

  /**
   * Listeners for one waiting code send, announced by mDNS with its hint. The
   * device advert carries the newest 1 + MAX_MORE_CODE_OFFERS (8) waiting
   * code sends; older ones beyond that are found only through relays until
   * a newer one ends.
   */
  async #offerOnLan(
    hint: string,
  ): Promise<{ listener: DirectListener; release: () => Promise<void> } | null> {
    if (!this.#lan || this.#closed) return null;
    const listener = await DirectListener.start(
      this.#identity,
      this.#network.iface ?? '0.0.0.0',
      0,
    );
    const entry = { hint, listener };
    this.#codeOffers.push(entry);
    await this.#announce();
    let released = false;
    return {
      listener,
      release: async () => {
        if (released) return;
        released = true;
        this.#codeOffers.splice(this.#codeOffers.indexOf(entry), 1);
        await this.#announce();
        await listener.close().catch(() => undefined);
      },
    };
  }

  /** Announce this device: its own ports, and the newest waiting code sends. */
  #announce(): Promise<void> {
    // One at a time: each re-announce stops the previous record first.
    this.#announcing = this.#announcing.then(() => this.#announceNow());
    return this.#announcing;
  }

  async #announceNow(): Promise<void> {
    if (!this.#lan || !this.#listener || this.#closed) return;
    const [top, ...more] = this.#codeOffers.slice(-1 - MAX_MORE_CODE_OFFERS).reverse();
    await this.#lan
      .announce({
        quicPort: this.#listener.quicPort,
        tcpPort: this.#listener.tcpPort,
        ...(top
          ? {
              nameplateHash: top.hint,
              codeQuicPort: top.listener.quicPort,
              codeTcpPort: top.listener.tcpPort,
            }
          : {}),
        ...(more.length > 0
          ? {
              moreCodeOffers: more.map((o) => ({
                nameplateHash: o.hint,
                quicPort: o.listener.quicPort,
                tcpPort: o.listener.tcpPort,
              })),
            }
          : {}),
      })
      .catch((err: Error) => this.#notice('warn', `discovery: ${err.message}`));
  }

  /** Follow a job's transfer: the view, and the session record's files and progress. */
  #attach(id: string, t: Transfer, info: LinkInfo): void {
    this.#track(id).attach(t, info);
    if (info.path === 'relay') this.#relayStatus = 'reachable';
    t.on((e) => {
      try {
        if (e.type === 'started') {
          const peer = t.snapshot().peer;
          this.#registry.update(id, {
            files: e.files.map((f) => ({ path: f.path, size: f.size })),
            totalBytes: e.total,
            bytesDone: e.resumedBytes,
            ...(peer
              ? {
                  peer: {
                    ...this.#registry.get(id)?.peer,
                    fingerprint: peer.fingerprint,
                    publicKey: Buffer.from(peer.publicKey).toString('hex'),
                  },
                }
              : {}),
          });
        }
        if (e.type === 'progress') this.#registry.progress(id, e.bytes);
        if (e.type === 'completed') {
          this.#registry.update(id, {
            bytesDone: e.summary.bytesTransferred + e.summary.bytesSkipped,
          });
        }
      } catch {
        // Bookkeeping must never break a transfer (a full disk is noticed by the registry).
      }
    });
  }

  #track(id: string): JobTrack {
    let t = this.#tracks.get(id);
    if (!t) {
      t = new JobTrack({ via: 'lan', files: [], peerLabel: '', restored: false });
      this.#tracks.set(id, t);
    }
    return t;
  }

  #addJob(
    spec: JobSpec<AnyJob>,
    record: Omit<
      NewSessionRecord,
      'id' | 'direction' | 'state' | 'priority' | 'totalBytes' | 'bytesDone' | 'attempts'
    >,
    peerLabel: string,
    code?: string,
  ): void {
    this.#tracks.get(spec.id)?.dispose();
    this.#tracks.set(
      spec.id,
      new JobTrack({
        via: record.via,
        files: record.files,
        peerLabel,
        restored: false,
        ...(code ? { code } : {}),
      }),
    );
    this.#newRecords.set(spec.id, {
      ...record,
      id: spec.id,
      direction: spec.direction,
      state: 'queued',
      priority: spec.priority ?? 'normal',
      totalBytes: record.files.reduce((n, f) => n + f.size, 0),
      bytesDone: 0,
      attempts: 0,
    });
    this.#queue.add(spec);
  }

  /** Sending the same files to the same peer again: a finished earlier job makes way. */
  #replaceFinished(id: string): void {
    const old = this.#queue.get(id);
    if (!old) return;
    if (isFinal(old.state)) {
      this.#queue.remove(id);
      return;
    }
    throw new Error('these files are already queued for that device');
  }

  #restore(): void {
    // History does not pile up forever: transfers finished long ago go.
    const cutoff = Date.now() - HISTORY_MS;
    for (const r of this.#registry.list()) {
      if ((r.state === 'done' || r.state === 'cancelled') && Date.parse(r.updatedAt) < cutoff) {
        this.#registry.remove(r.id);
      }
    }
    const restored = new Set<string>();
    restoreQueue(this.#queue, this.#registry, this.#config.settings.autoResume, (r) => {
      const spec = specOf(r);
      if (!spec) return null;
      restored.add(r.id);
      const t = new JobTrack({
        via: r.via,
        files: r.files,
        ...(r.fileCount === undefined ? {} : { fileCount: r.fileCount, totalBytes: r.totalBytes }),
        peerLabel: this.#peerLabel(r.peer.fingerprint, r.peer.name),
        restored: true,
      });
      t.bytesDone = r.bytesDone;
      this.#tracks.set(r.id, t);
      return spec;
    });
    const unfinished = [...restored].filter((id) => {
      const s = this.#queue.get(id)?.state;
      return s !== undefined && !isFinal(s);
    }).length;
    if (unfinished > 0) {
      this.#notice(
        'info',
        this.#config.settings.autoResume === 'always'
          ? `${unfinished} unfinished transfer(s) from the last run resume when their peer is reachable`
          : `${unfinished} unfinished transfer(s) from the last run are in Sessions: Enter resumes, d discards`,
      );
    }
  }

  #peerLabel(fp: string | undefined, name: string | undefined): string {
    const known = fp ? this.#config.knownPeer(fp) : undefined;
    if (known) return displayName(known.nickname);
    if (name) return displayName(name);
    return fp ? `${fp.slice(0, 4)}-${fp.slice(4, 8)}` : 'code';
  }

  #job(id: string): Job {
    const j = this.#queue.get(id);
    if (!j) throw new Error('no such transfer');
    return j;
  }

  #relays() {
    return resolveRelays(
      this.#opts.relays,
      this.#opts.env ?? process.env,
      this.#config.settings.relays,
    );
  }

  #downloadDir(): string {
    const d = this.#config.settings.downloadDir;
    return d && isAbsolute(d) ? d : resolve(d ?? '.');
  }

  #throttle(): Throttle | undefined {
    const per = this.#config.settings.perTransferRateLimit;
    const global = this.#config.settings.rateLimit === null ? undefined : this.#global;
    if (per === null && !global) return undefined;
    return combine(global, per === null ? undefined : new TokenBucket({ rateBps: per }));
  }

  #notice(level: Notice['level'], text: string): void {
    this.#notices.push({ id: ++this.#noticeId, at: Date.now(), level, text });
    if (this.#notices.length > MAX_NOTICES) this.#notices.shift();
    this.#version++;
  }

  /** A transfer completed: pin a peer proven by code or words, or refresh a known one. */
  #proven(key: Uint8Array, name: string | undefined, by: 'code' | 'sas' | null): void {
    if (by && !this.#config.knownPeer(fingerprint(key))) this.#pin(key, name, by, false);
    else touchKnown(this.#config, key, name);
  }

  #pin(key: Uint8Array, name: string | undefined, by: 'code' | 'sas' | 'manual', always: boolean) {
    const peer = rememberPeer(
      this.#config,
      key,
      name,
      by,
      noticeReporter((l, t) => this.#notice(l, t)),
    );
    if (peer && always && !peer.autoAccept) {
      try {
        this.#config.updatePeer(peer.fingerprint, { autoAccept: true });
      } catch (err) {
        this.#notice('error', `could not save the peer: ${(err as Error).message}`);
      }
    }
    this.#lan?.table.setKnown(this.#config.knownPeers());
    this.#version++;
  }
}

/** The job a recorded session becomes in the queue, or null when it cannot be run. */
function specOf(r: SessionRecord): JobSpec<AnyJob> | null {
  const fp = r.peer.fingerprint;
  if (r.direction === 'send' && r.via === 'lan') {
    if (!fp) return null;
    return {
      id: r.id,
      direction: 'send',
      peer: fp,
      data: { kind: 'lan-send', paths: r.paths, peer: fp },
    };
  }
  if (r.direction === 'send') {
    return { id: r.id, direction: 'send', data: { kind: 'code-send', paths: r.paths } };
  }
  const targetDir = r.targetDir ?? r.paths[0];
  if (!targetDir) return null;
  if (r.via === 'code') {
    return { id: r.id, direction: 'receive', data: { kind: 'code-receive', targetDir } };
  }
  return {
    id: r.id,
    direction: 'receive',
    peer: incomingPeer(fp ?? ''),
    data: { kind: 'incoming', targetDir },
  };
}

/** A record for a job added without one (should not happen; keeps the registry whole). */
function blankRecord(job: Job): NewSessionRecord {
  return {
    id: job.id,
    direction: job.direction,
    state: job.state,
    priority: job.priority,
    via: 'lan',
    peer: {},
    paths: [],
    files: [],
    totalBytes: 0,
    bytesDone: 0,
    attempts: 0,
  };
}

function absolute(paths: readonly string[]): string[] {
  if (paths.length === 0) throw new Error('nothing to send: give a file or folder');
  return paths.map((p) => resolve(p));
}

function resolvedPeer(lan: LanDiscovery, query: string) {
  const r = lan.table.resolve(query);
  if (!r.ok) throw new Error(r.message);
  return r.peer;
}
