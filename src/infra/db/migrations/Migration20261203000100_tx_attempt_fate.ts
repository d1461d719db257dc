import { Migration } from '@mikro-orm/migrations';

/**
 * Every attempt has its own fate (ADR 0008): `signed` (stored, no node has acknowledged it yet),
 * `sent` (a node accepted it, already had it, or said its nonce is used: receipts decide), or
 * `refused` (a node refused it outright the first time it was offered: it is never offered
 * again). A refused speed-up no longer ends its intent while an earlier attempt can still mine.
 *
 * An intent whose only attempt was refused ends `rejected`: nothing was executed and its nonce
 * is free again, like a superseded one's (the partial unique index excludes both).
 *
 * Attempts stored before this migration count as `sent`: they may have left the process, so
 * none of them can ever be taken for refused.
 */
export class Migration20261203000100_tx_attempt_fate extends Migration {
  override up(): void {
    this.addSql(`alter table tx_attempts add column status text not null default 'sent' check (status in ('signed', 'sent', 'refused'))`);
    this.addSql(`alter table tx_attempts alter column status set default 'signed'`);
    this.addSql('alter table tx_attempts add column error text null');
    this.addSql('alter table tx_intents drop constraint tx_intents_status_check');
    this.addSql(`alter table tx_intents add constraint tx_intents_status_check check (status in ('reserved', 'signed', 'broadcast', 'mined', 'reverted', 'superseded', 'rejected'))`);
    this.addSql('drop index tx_intents_wallet_nonce_uq');
    this.addSql(`create unique index tx_intents_wallet_nonce_uq on tx_intents (wallet, chain_id, nonce) where status not in ('superseded', 'rejected')`);
  }

  override down(): void {
    this.addSql('drop index tx_intents_wallet_nonce_uq');
    this.addSql(`update tx_intents set status = 'superseded' where status = 'rejected'`);
    this.addSql(`create unique index tx_intents_wallet_nonce_uq on tx_intents (wallet, chain_id, nonce) where status <> 'superseded'`);
    this.addSql('alter table tx_intents drop constraint tx_intents_status_check');
    this.addSql(`alter table tx_intents add constraint tx_intents_status_check check (status in ('reserved', 'signed', 'broadcast', 'mined', 'reverted', 'superseded'))`);
    this.addSql('alter table tx_attempts drop column error');
    this.addSql('alter table tx_attempts drop column status');
  }
}
