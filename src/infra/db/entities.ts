import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { WalletSchema } from '../keys/wallet-entity.ts';

/**
 * One row per actor: the latest persisted XState snapshot plus what the
 * runtime needs to rebuild the tree (kind, logical parent, machine version)
 * and an optimistic `version` that makes a second writer fail loudly.
 */
export const ActorSnapshotSchema = defineEntity({
  name: 'ActorSnapshot',
  tableName: 'actor_snapshots',
  properties: {
    id: p.string().primary(),
    kind: p.string(),
    parent: p.string().nullable(),
    machineVersion: p.integer(),
    snapshot: p.json<Record<string, unknown>>(),
    status: p.string().default('active'),
    statusReason: p.string().nullable(),
    version: p.integer().version(),
    createdAt: p.datetime().defaultRaw('now()'),
    updatedAt: p.datetime().defaultRaw('now()'),
  },
});
export type ActorSnapshotRow = InferEntity<typeof ActorSnapshotSchema>;

/** Append-only record of every trade and admin action; a trigger refuses UPDATE, DELETE and TRUNCATE. */
export const AuditLogSchema = defineEntity({
  name: 'AuditLog',
  tableName: 'audit_log',
  properties: {
    id: p.bigint().primary().autoincrement(),
    at: p.datetime().defaultRaw('now()'),
    actor: p.string(),
    action: p.string(),
    subject: p.string().nullable(),
    details: p.json<Record<string, unknown>>(),
    corrId: p.string().nullable(),
  },
});
export type AuditLogRow = InferEntity<typeof AuditLogSchema>;

export const entities = [ActorSnapshotSchema, AuditLogSchema, WalletSchema];
