import { Counter, Gauge, type Registry } from 'prom-client';

/** What an operator watches during a key rotation. No per-user labels. */
export interface KeyRotationMetrics {
  readonly rewrapped: Counter;
  readonly failed: Counter;
  readonly remaining: Gauge;
  readonly keyVersion: Gauge;
  readonly running: Gauge;
}

/** Registers the rotation metrics on the app's registry; call once per registry. */
export function createKeyRotationMetrics(registry: Registry): KeyRotationMetrics {
  const registers = [registry];
  return {
    rewrapped: new Counter({ name: 'vanta_key_rotation_rewrapped_total', help: 'Wallet ciphertexts rewrapped onto the newest key version', registers }),
    failed: new Counter({ name: 'vanta_key_rotation_failed_total', help: 'Wallet ciphertexts that could not be rewrapped (left on their old version)', registers }),
    remaining: new Gauge({ name: 'vanta_key_rotation_remaining', help: 'Wallet ciphertexts still sealed below the rotation target version', registers }),
    keyVersion: new Gauge({ name: 'vanta_key_rotation_target_version', help: 'Key version the current or last rotation rewraps onto', registers }),
    running: new Gauge({ name: 'vanta_key_rotation_running', help: '1 while a key rotation is rewrapping, else 0', registers }),
  };
}
