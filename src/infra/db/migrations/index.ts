import { Migration20261125000000_actor_snapshots_audit_log } from './Migration20261125000000_actor_snapshots_audit_log.ts';
import { Migration20261201000000_wallets_key_rotations } from './Migration20261201000000_wallets_key_rotations.ts';
import { Migration20261202000000_tx_outbox } from './Migration20261202000000_tx_outbox.ts';
import { Migration20261203000000_engine_lease } from './Migration20261203000000_engine_lease.ts';
import { Migration20261203000001_engine_lease_epochs } from './Migration20261203000001_engine_lease_epochs.ts';
import { Migration20261203000100_tx_attempt_fate } from './Migration20261203000100_tx_attempt_fate.ts';
import { Migration20261204000000_actor_transitions } from './Migration20261204000000_actor_transitions.ts';
import { Migration20261205000000_v2_intents } from './Migration20261205000000_v2_intents.ts';

/**
 * Every migration, in order. Listed explicitly (not globbed from disk) so the
 * same set runs from source, in the container image and in tests.
 */
export const migrations = [
  { name: 'Migration20261125000000_actor_snapshots_audit_log', class: Migration20261125000000_actor_snapshots_audit_log },
  { name: 'Migration20261201000000_wallets_key_rotations', class: Migration20261201000000_wallets_key_rotations },
  { name: 'Migration20261202000000_tx_outbox', class: Migration20261202000000_tx_outbox },
  { name: 'Migration20261203000000_engine_lease', class: Migration20261203000000_engine_lease },
  { name: 'Migration20261203000001_engine_lease_epochs', class: Migration20261203000001_engine_lease_epochs },
  { name: 'Migration20261203000100_tx_attempt_fate', class: Migration20261203000100_tx_attempt_fate },
  { name: 'Migration20261204000000_actor_transitions', class: Migration20261204000000_actor_transitions },
  { name: 'Migration20261205000000_v2_intents', class: Migration20261205000000_v2_intents },
];
