import { defineEntity, p, type InferEntity } from '@mikro-orm/core';

/**
 * One wallet per user: the address and the key sealed by the keystore (never
 * the key itself), the keystore's key version that sealed it (so rotation can
 * find what is left to rewrap), and an optimistic `version` so a rewrap never
 * overwrites a row another writer changed meanwhile.
 */
export const WalletSchema = defineEntity({
  name: 'Wallet',
  tableName: 'wallets',
  properties: {
    userId: p.string().primary(),
    address: p.string().unique(),
    ciphertext: p.text(),
    keyVersion: p.integer(),
    version: p.integer().version(),
    createdAt: p.datetime().defaultRaw('now()'),
    updatedAt: p.datetime().defaultRaw('now()'),
  },
});
export type WalletRow = InferEntity<typeof WalletSchema>;
