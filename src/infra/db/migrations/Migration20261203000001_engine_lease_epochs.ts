import { Migration } from '@mikro-orm/migrations';

/**
 * Lease epochs come from a sequence, so an epoch is never handed out twice, even if an operator
 * deletes the `engine_lease` row: with `max(epoch) + 1` a deleted row would restart at 1, and a
 * stalled owner of epoch 1 would pass the new owner's fence (src/infra/db/lease.ts).
 */
export class Migration20261203000001_engine_lease_epochs extends Migration {
  override up(): void {
    this.addSql('create sequence engine_lease_epoch as bigint minvalue 1');
    this.addSql(`select setval('engine_lease_epoch', coalesce((select max(epoch) from engine_lease), 0) + 1, false)`);
  }

  override down(): void {
    this.addSql('drop sequence engine_lease_epoch');
  }
}
