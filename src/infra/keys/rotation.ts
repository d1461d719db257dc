import { UniqueConstraintViolationException } from '@mikro-orm/core';
import { describeError } from '../../errors.ts';
import type { Database } from '../db/database.ts';
import type { Logger } from '../logger.ts';
import { withRetireLock } from './key-version-lock.ts';
import type { KeyStore } from './keystore.ts';
import type { KeyRotationMetrics } from './rotation-metrics.ts';
import { createWalletRepository, type CiphertextUpdate, type WalletRepository } from './wallet-repository.ts';

/**
 * Key rotation: add a key version, rewrap every stored wallet ciphertext onto
 * it in batches, then raise min_decryption_version so the old version opens
 * nothing any more. Progress lives in `key_rotations` and in the wallets'
 * own key_version, so a rotation that was stopped (shutdown, Vault down, a
 * crash) resumes on the next run without rotating again. Signing keeps
 * working throughout: until the minimum is raised, old and new ciphertexts
 * both open.
 *
 * The last count and the raising of the minimum happen under the lock that
 * storing a new wallet also takes (key-version-lock.ts), so a wallet sealed
 * under the old version while the rotation ran is either counted (and
 * rewrapped in another round) or finds the raised minimum and is sealed
 * again: none is ever stored under a retired version.
 */

export interface KeyRotationOptions {
  readonly db: Database;
  readonly keystore: KeyStore;
  readonly logger: Logger;
  readonly metrics: KeyRotationMetrics;
  /** Who started it, for the audit log ("admin:12345"). */
  readonly actor: string;
  readonly batchSize?: number;
  /** Aborting stops between batches; the next run resumes. */
  readonly signal?: AbortSignal;
  /** Awaited after each batch is written (the admin command reports progress; tests interrupt or sign here). */
  readonly onBatch?: (progress: { readonly rewrapped: number; readonly remaining: number }) => void | Promise<void>;
}

export interface KeyRotationResult {
  /** done: minimum raised; incomplete: some ciphertexts failed to rewrap, minimum not raised; aborted: stopped by the signal. */
  readonly outcome: 'done' | 'incomplete' | 'aborted';
  readonly resumed: boolean;
  readonly toVersion: number;
  readonly rewrapped: number;
  readonly failed: number;
  readonly remaining: number;
}

interface OpenRotation {
  readonly id: string;
  readonly toVersion: number;
  readonly resumed: boolean;
}

export async function runKeyRotation(options: KeyRotationOptions): Promise<KeyRotationResult> {
  const { db, keystore, metrics } = options;
  const log = options.logger.child({ component: 'key-rotation', keystore: keystore.kind });
  const repository = createWalletRepository(db);
  const rotation = await openRotation(db, keystore);
  await db.audit({ actor: options.actor, action: rotation.resumed ? 'keys.rotation.resumed' : 'keys.rotation.started', subject: keystore.kind, details: { toVersion: rotation.toVersion } });
  log.info({ to_version: rotation.toVersion, resumed: rotation.resumed }, rotation.resumed ? 'Resuming key rotation' : 'Started key rotation');
  metrics.keyVersion.set(rotation.toVersion);
  metrics.running.set(1);
  try {
    const pass: PassResult = { rewrapped: 0, failed: 0, aborted: false, lastError: null, failedIds: new Set() };
    for (let round = 1; ; round += 1) {
      await rewrapAll(repository, rotation, options, log, pass);
      if (pass.aborted) {
        const remaining = await repository.countSealedBelow(rotation.toVersion);
        metrics.remaining.set(remaining);
        return await finish(options, rotation, 'aborted', pass, remaining, null);
      }
      const remaining = await retire(db, keystore, rotation);
      metrics.remaining.set(remaining);
      if (remaining === 0) return await finish(options, rotation, 'done', pass, 0, null);
      // Left below the target: wallets that would not rewrap, and any stored since the last walk (another round takes those).
      if (remaining <= pass.failedIds.size || round >= MAX_ROUNDS) {
        return await finish(options, rotation, 'incomplete', pass, remaining, pass.lastError ?? `${remaining} ciphertexts are still below version ${rotation.toVersion}`);
      }
      log.info({ remaining, round }, 'Wallets were stored under the old version while rewrapping; rewrapping them before retiring it');
    }
  } catch (error) {
    const { code, message } = describeError(error);
    await db.sql('update key_rotations set last_error = ?, updated_at = now() where id = ?', [`${code}: ${message}`.slice(0, 500), rotation.id]);
    log.error({ err: error }, 'Key rotation stopped; run it again to resume');
    throw error;
  } finally {
    metrics.running.set(0);
  }
}

/** Rounds of rewrap-then-retire before giving up (each round only meets wallets created during the one before). */
const MAX_ROUNDS = 5;

/**
 * Under the exclusive lock: count what is still below the target and, if
 * nothing is, raise the minimum and mark the rotation done in the same
 * transaction. Answers the count (0 when retired).
 */
async function retire(db: Database, keystore: KeyStore, rotation: OpenRotation): Promise<number> {
  return withRetireLock(db, async (tx) => {
    const [row] = await tx.sql<{ n: string | number }>('select count(*) as n from wallets where key_version < ?', [rotation.toVersion]);
    const remaining = Number(row?.n ?? 0);
    if (remaining > 0) return remaining;
    await keystore.setMinDecryptionVersion(rotation.toVersion);
    await tx.sql("update key_rotations set status = 'done', last_error = null, finished_at = now(), updated_at = now() where id = ?", [rotation.id]);
    return 0;
  });
}

/** The unfinished rotation of this keystore, or a new one: rotate the key, then record the target. */
async function openRotation(db: Database, keystore: KeyStore): Promise<OpenRotation> {
  const existing = await findOpen(db, keystore.kind);
  if (existing) return existing;
  const toVersion = await keystore.rotate();
  try {
    const [row] = await db.sql<{ id: string }>("insert into key_rotations (keystore, to_version, status) values (?, ?, 'rewrapping') returning id", [keystore.kind, toVersion]);
    return { id: String(row!.id), toVersion, resumed: false };
  } catch (error) {
    // Another instance opened a rotation at the same moment: join it (our extra key version is harmless).
    const raced = error instanceof UniqueConstraintViolationException ? await findOpen(db, keystore.kind) : null;
    if (raced) return raced;
    throw error;
  }
}

async function findOpen(db: Database, kind: string): Promise<OpenRotation | null> {
  const [row] = await db.sql<{ id: string; to_version: number }>("select id, to_version from key_rotations where keystore = ? and status <> 'done'", [kind]);
  return row ? { id: String(row.id), toVersion: row.to_version, resumed: true } : null;
}

interface PassResult {
  rewrapped: number;
  failed: number;
  aborted: boolean;
  lastError: string | null;
  /** Users whose ciphertext would not rewrap: not tried again in this run. */
  readonly failedIds: Set<string>;
}

/**
 * Walks the wallets still below the target, in user id order, one batch at a
 * time. A second walk picks up rows skipped because another writer changed
 * them meanwhile; ciphertexts that fail to rewrap are counted and left alone.
 */
async function rewrapAll(repository: WalletRepository, rotation: OpenRotation, options: KeyRotationOptions, log: Logger, result: PassResult): Promise<void> {
  const { db, keystore, metrics } = options;
  const batchSize = options.batchSize ?? 200;
  const { failedIds } = result;
  for (let walk = 0; walk < 3; walk += 1) {
    let cursor = '';
    let progressed = false;
    for (;;) {
      if (options.signal?.aborted) {
        result.aborted = true;
        return;
      }
      const batch = (await repository.sealedBelow(rotation.toVersion, batchSize, cursor)).filter((w) => !failedIds.has(w.userId));
      if (batch.length === 0) break;
      cursor = batch[batch.length - 1]!.userId;
      const answers = await keystore.rewrap(batch.map((w) => ({ userId: w.userId, ciphertext: w.ciphertext })));
      const updates: CiphertextUpdate[] = [];
      batch.forEach((wallet, i) => {
        const answer = answers[i];
        if (answer?.ok) {
          updates.push({ userId: wallet.userId, expectedVersion: wallet.version, ciphertext: answer.value.ciphertext, keyVersion: answer.value.keyVersion });
          return;
        }
        failedIds.add(wallet.userId);
        result.lastError = answer ? `${answer.error.code}: ${answer.error.message}` : `no rewrap result for user ${wallet.userId}`;
        log.warn({ user_id: wallet.userId, code: answer?.error.code }, 'Could not rewrap a wallet key; it stays on its old version');
      });
      const written = await repository.replaceCiphertexts(updates);
      const failedNow = batch.length - updates.length;
      result.rewrapped += written.size;
      result.failed += failedNow;
      progressed ||= written.size > 0;
      metrics.rewrapped.inc(written.size);
      if (failedNow) metrics.failed.inc(failedNow);
      await db.sql('update key_rotations set rewrapped = rewrapped + ?, failed = ?, last_error = ?, updated_at = now() where id = ?', [written.size, failedIds.size, result.lastError, rotation.id]);
      const remaining = await repository.countSealedBelow(rotation.toVersion);
      metrics.remaining.set(remaining);
      await options.onBatch?.({ rewrapped: result.rewrapped, remaining });
    }
    if (!progressed || (await repository.countSealedBelow(rotation.toVersion)) <= failedIds.size) break;
  }
}

async function finish(options: KeyRotationOptions, rotation: OpenRotation, outcome: KeyRotationResult['outcome'], pass: PassResult, remaining: number, error: string | null): Promise<KeyRotationResult> {
  const { db } = options;
  // 'done' was written by retire(), in the transaction that raised the minimum.
  if (outcome !== 'done' && error !== null) {
    await db.sql('update key_rotations set last_error = ?, updated_at = now() where id = ?', [error.slice(0, 500), rotation.id]);
  }
  const details = { toVersion: rotation.toVersion, rewrapped: pass.rewrapped, failed: pass.failed, remaining };
  await db.audit({ actor: options.actor, action: `keys.rotation.${outcome === 'done' ? 'completed' : outcome}`, subject: options.keystore.kind, details });
  const log = options.logger.child({ component: 'key-rotation' });
  if (outcome === 'done') log.info(details, 'Key rotation done; old key versions are retired');
  else log.warn({ ...details, outcome }, outcome === 'aborted' ? 'Key rotation paused; run it again to resume' : 'Key rotation left ciphertexts on the old version; min_decryption_version was not raised');
  return { outcome, resumed: rotation.resumed, toVersion: rotation.toVersion, rewrapped: pass.rewrapped, failed: pass.failed, remaining };
}
